"""The ECG-Byte quantizer: dataset percentiles -> 26 uniform bins -> symbols 'a'..'z'.

After chronos' ``MeanScaleUniformBins``: a small dataclass holding the state needed to
both symbolize and dequantize, with boundaries computed once. The paper's formula
(Han et al. 2025, Sec. 3; ``normalize_all`` in ECG-Byte's ``tokenizer_utils.py``)::

    lo, hi = p1 - 0.5, p99 + 0.5              # dataset percentiles, padded by 0.5 mV
    x'     = clip((x - lo) / (hi - lo), 0, 1)
    code   = min(floor(x' * 26), 25)          # uint8 0..25, shown as 'a'..'z'

Differences from the original code, on purpose:

* the original adds ``1e-6`` to the denominator; ours has none (``hi - lo >= 1`` always,
  so it cannot divide by zero) and the bins are exactly uniform;
* the original decodes code ``k`` to ``lo + k / 25 * (hi - lo)`` (the bin *edges*
  stretched over the range, up to a full bin off); we decode to bin *centres*
  ``lo + (k + 0.5) * (hi - lo) / 26``, so the error inside ``[lo, hi]`` is at most half a
  bin and ``symbolize(dequantize(c)) == c``;
* the percentiles come from a seeded uniform sample of values (bounded memory), not a
  whole-corpus pass; ECG-Bench later switched to per-ECG min-max, which we do not do.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError, TokenizerError
from ecgbyte.fileio import write_json
from ecgbyte.limits import PHYSIOLOGICAL_MV

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
FORMAT = "ecgbyte.quantizer"
FORMAT_VERSION = 1
_A = ord("a")


def codes_to_str(codes: np.ndarray) -> str:
    """Render 1-D symbol codes 0..25 as a string over :data:`ALPHABET`.

    >>> codes_to_str(np.array([0, 1, 25], dtype=np.uint8))
    'abz'
    """
    arr = np.asarray(codes)
    if arr.ndim != 1:
        raise TokenizerError(
            f"codes_to_str takes a 1-D array of codes, got shape {arr.shape}; convert one lead at a time"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TokenizerError(f"symbol codes must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= len(ALPHABET)):
        bad = int(np.flatnonzero((arr < 0) | (arr >= len(ALPHABET)))[0])
        raise TokenizerError(
            f"symbol code {int(arr[bad])} at position {bad} is outside 0..{len(ALPHABET) - 1}"
        )
    return (arr.astype(np.uint8) + _A).tobytes().decode("ascii")


def str_to_codes(text: str) -> np.ndarray:
    """Parse a symbol string back to uint8 codes 0..25.

    >>> str_to_codes("abz").tolist()
    [0, 1, 25]
    """
    raw = text.encode("ascii", errors="replace")  # non-ASCII becomes '?', caught below
    arr = np.frombuffer(raw, dtype=np.uint8) - np.uint8(_A)
    bad = np.flatnonzero(arr >= len(ALPHABET))
    if bad.size:
        i = int(bad[0])
        raise TokenizerError(f"character {text[i]!r} at position {i} is not a symbol; symbols are 'a'..'z'")
    return arr.copy()


@dataclass(frozen=True)
class Quantizer:
    """Uniform quantizer over ``[p1 - margin, p99 + margin]`` (mV) into ``n_symbols`` bins.

    Attributes
    ----------
    p1, p99 : the dataset's low and high percentiles in mV (``p99 >= p1``).
    n_symbols : number of bins, 2..26 (the paper: 26, 'a'..'z').
    margin : padding in mV added on both sides (the paper: 0.5).
    percentiles : the percentiles ``p1``/``p99`` stand for (provenance only).

    Examples
    --------
    >>> q = Quantizer(p1=-0.5, p99=1.5)   # range [-1, 2] mV: bins of 3/26 mV
    >>> codes = q.symbolize(np.array([-3.0, -1.0, 0.0, 2.0, 9.0]))
    >>> codes.tolist(), codes_to_str(codes)
    ([0, 0, 8, 25, 25], 'aaizz')
    >>> q.symbolize(q.dequantize(codes)).tolist()
    [0, 0, 8, 25, 25]
    """

    p1: float
    p99: float
    n_symbols: int = 26
    margin: float = 0.5
    percentiles: tuple[float, float] = (1.0, 99.0)
    _edges: np.ndarray = field(init=False, repr=False, compare=False)
    _centres: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("p1", "p99", "margin"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float, np.floating, np.integer))
                or not math.isfinite(v)
            ):
                raise ConfigError(f"Quantizer.{name} must be a finite number (mV), got {v!r}")
            object.__setattr__(self, name, float(v))
            if abs(float(v)) > PHYSIOLOGICAL_MV:
                raise ConfigError(
                    f"Quantizer.{name} = {v!r} mV is outside the physiological range of an ECG "
                    f"(|x| <= {PHYSIOLOGICAL_MV:g} mV); are the signals in mV (not uV)?"
                )
        if self.p99 < self.p1:
            raise ConfigError(f"Quantizer needs p99 >= p1, got p1={self.p1} > p99={self.p99}")
        if self.margin < 0 or (self.p99 - self.p1 + 2 * self.margin) <= 0:
            raise ConfigError(f"Quantizer.margin must be >= 0 and leave a positive range, got {self.margin}")
        if (
            isinstance(self.n_symbols, bool)
            or not isinstance(self.n_symbols, (int, np.integer))
            or not 2 <= self.n_symbols <= len(ALPHABET)
        ):
            raise ConfigError(
                f"Quantizer.n_symbols must be an integer in 2..{len(ALPHABET)}, got {self.n_symbols!r}"
            )
        object.__setattr__(self, "n_symbols", int(self.n_symbols))
        pct = self.percentiles
        try:
            pct = tuple(float(p) for p in pct) if not isinstance(pct, (str, bytes)) else ()
        except (TypeError, ValueError):
            pct = ()
        if len(pct) != 2 or not 0.0 <= pct[0] < pct[1] <= 100.0:
            raise ConfigError(
                f"Quantizer.percentiles must be (low, high) with 0 <= low < high <= 100, got {self.percentiles!r:.60}"
            )
        object.__setattr__(self, "percentiles", pct)
        k = np.arange(self.n_symbols + 1, dtype=np.float64)
        object.__setattr__(self, "_edges", self.lo + k * self.bin_width)
        object.__setattr__(self, "_centres", (self.lo + (k[:-1] + 0.5) * self.bin_width).astype(np.float32))

    # -- geometry -------------------------------------------------------------------------------
    @property
    def lo(self) -> float:
        """Lower end of the quantized range, ``p1 - margin`` (mV)."""
        return self.p1 - self.margin

    @property
    def hi(self) -> float:
        """Upper end of the quantized range, ``p99 + margin`` (mV)."""
        return self.p99 + self.margin

    @property
    def bin_width(self) -> float:
        """Width of one bin in mV."""
        return (self.hi - self.lo) / self.n_symbols

    @property
    def edges(self) -> np.ndarray:
        """float64 ``[n_symbols + 1]`` bin edges in mV (a copy)."""
        return self._edges.copy()

    @property
    def centres(self) -> np.ndarray:
        """float32 ``[n_symbols]`` bin centres in mV (a copy)."""
        return self._centres.copy()

    # -- transforms -----------------------------------------------------------------------------
    def symbolize(self, x: np.ndarray | Ecg, *, where: str | None = None) -> np.ndarray:
        """Map values in mV (any shape, or an :class:`Ecg`) to uint8 codes ``0..n_symbols-1``.

        Values outside ``[lo, hi]`` clip to the first/last symbol. NaN or inf raise
        :class:`~ecgbyte.errors.RecordError` naming ``where`` (or the record).
        """
        if isinstance(x, Ecg):
            where = where or x.name
            x = x.signal
        arr = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise RecordError(
                f"cannot symbolize {n_bad} non-finite value(s) (NaN/inf); fill gaps or reject the record first",
                path=where or "<array>",
                reason="nan",
            )
        scaled = (arr - self.lo) / (self.hi - self.lo)
        codes = np.floor(np.clip(scaled, 0.0, 1.0) * self.n_symbols)
        return np.minimum(codes, self.n_symbols - 1).astype(np.uint8)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """Map codes (any shape) to float32 bin centres in mV; a code out of range raises TokenizerError."""
        arr = np.asarray(codes)
        if arr.size and (
            not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= self.n_symbols
        ):
            raise TokenizerError(
                f"symbol codes must be integers in 0..{self.n_symbols - 1}, got dtype {arr.dtype}, "
                f"range {arr.min()}..{arr.max()}"
            )
        return self._centres[arr.astype(np.intp)]

    # -- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        signals: Iterable[Ecg | np.ndarray],
        *,
        percentiles: tuple[float, float] = (1.0, 99.0),
        max_values: int = 1_000_000,
        seed: int = 0,
        n_symbols: int = 26,
        margin: float = 0.5,
    ) -> Quantizer:
        """Fit ``p1``/``p99`` on a seeded uniform sample of the values of a corpus.

        Parameters
        ----------
        signals : iterable of :class:`Ecg` or arrays (any shape) in mV, read once.
        percentiles : the low/high percentiles in 0..100 (the paper: 1 and 99).
        max_values : size of the uniform random sample (without replacement) kept in
            memory; a corpus with fewer values is used whole.
        seed : seed of the sample; the same corpus and seed give the same quantizer.
        n_symbols, margin : passed to the constructor.

        Raises
        ------
        RecordError : an item holds NaN/inf (names the record or its index).
        ConfigError : bad percentiles or max_values, or an empty corpus.
        """
        lo_p, hi_p = (float(p) for p in percentiles)
        if not 0.0 <= lo_p < hi_p <= 100.0:
            raise ConfigError(
                f"percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles}"
            )
        if isinstance(max_values, bool) or not isinstance(max_values, (int, np.integer)) or max_values < 1:
            raise ConfigError(f"max_values must be a positive integer, got {max_values!r}")
        rng = np.random.default_rng(seed)
        # reservoir by random keys: the max_values smallest keys and their values. Kept in chunks and
        # pruned only when half as many again have piled up (a pruning per item was most of the
        # fit's time); a key at or above the last pruning's largest kept one can never be kept
        keys: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        held, bound, slack = 0, np.inf, max(1, max_values // 2)
        n_seen = 0
        for i, item in enumerate(signals):
            where = item.name if isinstance(item, Ecg) else f"signals[{i}]"
            arr = np.asarray(item.signal if isinstance(item, Ecg) else item, dtype=np.float64).ravel()
            if not np.all(np.isfinite(arr)):
                raise RecordError(
                    "holds NaN/inf values; fill gaps or drop the record before fitting the quantizer",
                    path=where,
                    reason="nan",
                )
            n_seen += arr.size
            k = rng.random(arr.size)
            if bound < np.inf:
                sel = k < bound
                k, arr = k[sel], arr[sel]
            keys.append(k)
            vals.append(arr)
            held += k.size
            if held > max_values + slack:
                bound = _prune(keys, vals, max_values)
                held = max_values
        if n_seen == 0:
            raise ConfigError("cannot fit the quantizer on an empty corpus (no signal values)")
        _prune(keys, vals, max_values)
        p1, p99 = np.percentile(vals[0], [lo_p, hi_p])
        return cls(float(p1), float(p99), n_symbols=n_symbols, margin=margin, percentiles=(lo_p, hi_p))

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict opening with the format name and version."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "p1": self.p1,
            "p99": self.p99,
            "n_symbols": self.n_symbols,
            "margin": self.margin,
            "percentiles": list(self.percentiles),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "<dict>") -> Quantizer:
        """Inverse of :meth:`to_dict`; a damaged or newer-format dict raises TokenizerError."""
        return cls._from_dict(data, where, FORMAT, FORMAT_VERSION, "an ecgbyte quantizer")

    @classmethod
    def _from_dict(cls, data: Any, where: str, fmt: str, max_version: int, what: str, *extra: str) -> Any:
        """``cls`` from a dict of format ``fmt`` (versions 1..``max_version``): the uniform
        quantizer's fields plus the required keys ``extra`` (a subclass's own fields)."""
        if not isinstance(data, dict) or data.get("format") != fmt:
            raise TokenizerError(f'{where}: not {what} (expected "format": "{fmt}")')
        version = data.get("format_version")
        if not isinstance(version, int) or not 1 <= version <= max_version:
            raise TokenizerError(
                f"{where}: quantizer format_version {version!r} is not supported (this ecgbyte reads "
                f"1..{max_version}); upgrade ecgbyte"
            )
        try:
            return cls(
                data["p1"],
                data["p99"],
                n_symbols=data.get("n_symbols", 26),
                margin=data.get("margin", 0.5),
                percentiles=tuple(data.get("percentiles", (1.0, 99.0))),
                **{key: data[key] for key in extra},
            )
        except KeyError as exc:
            raise TokenizerError(f"{where}: quantizer is missing the key {exc.args[0]!r}") from None
        except (ConfigError, TypeError, ValueError) as exc:
            raise TokenizerError(f"{where}: invalid quantizer: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the quantizer as JSON atomically (temp file + ``os.replace``); return the path."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Quantizer:
        """Read a quantizer written by :meth:`save`; a missing or damaged file raises TokenizerError."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TokenizerError(f"{path}: quantizer file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenizerError(f"{path}: cannot read the quantizer file: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenizerError(
                f"{path}: damaged quantizer JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "re-fit or restore the file"
            ) from None
        return cls.from_dict(data, where=str(path))


def _prune(keys: list[np.ndarray], vals: list[np.ndarray], max_values: int) -> float:
    """Reduce the chunks (in place) to one holding the ``max_values`` smallest keys and their values;
    returns the largest key kept."""
    k, v = np.concatenate(keys), np.concatenate(vals)
    if k.size > max_values:
        part = np.argpartition(k, max_values - 1)[:max_values]
        k, v = k[part], v[part]
    keys[:], vals[:] = [k], [v]
    return float(k.max()) if k.size else np.inf
