"""Named ECG representations: presets of the ECG-Byte tokenizer, stored with every tokenizer made from one.

A :class:`Preset` fixes everything that decides what the tokens of an ECG are: the leads that are
encoded, the leads rebuilt from them at decode time, the signal pipeline (filters and rate), the
quantizer (kind, number of symbols, hysteresis) and the BPE training (merges, minimum frequency).
:data:`PRESETS` holds the named ones:

- ``paper``: the original ECG-Byte recipe: 12 leads, the paper's filters (band-pass 0.5-100 Hz),
  250 Hz, 26 uniform bins, 3,500 merges (what ``train-tokenizer`` has always made);
- ``compact``: a whole 10 s 12-lead ECG in about 1,000 LLM tokens (markers included). It encodes
  the 8 independent leads (I, II, V1-V6) and rebuilds III, aVR, aVL and aVF from I and II at
  decode time (Einthoven / Goldberger: exact up to quantisation); it band-passes 0.5-40 Hz and
  samples at 100 Hz (PTB-XL's own low-rate release); 22 bins with a quarter-bin hysteresis
  (:mod:`ecgbyte.symbols.hysteresis`), so a flat stretch is one run of one symbol; 5,000 merges.
  Chosen from measurements on the PTB-XL fixtures (``benchmarks/compact_search.py``).

A tokenizer trained from a preset (:func:`ecgbyte.preset_tokenizer.train_preset`) keeps it
(``ECGByteTokenizer.preset``): its ``ecgbyte_config.json`` stores ``"preset": {...}`` with every
parameter, ``encode`` checks each record against it (:meth:`Preset.check_record`: the encoded
leads present, a rate it can resample to) and ``decode`` returns the 12 standard leads
(:meth:`Preset.rebuild`). A folder without a ``preset`` key (made before presets) loads and works
exactly as before. Torch-free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS, Ecg, canonical_lead_name
from ecgbyte.errors import ConfigError, RecordError, TokenizerError
from ecgbyte.signal.config import PreprocessConfig

INDEPENDENT_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""The leads a 12-lead ECG cannot do without; the other four are combinations of I and II."""

DERIVED_LEADS: dict[str, tuple[float, float]] = {
    "III": (-1.0, 1.0),  # III = II - I           (Einthoven)
    "aVR": (-0.5, -0.5),  # aVR = -(I + II) / 2   (Goldberger)
    "aVL": (1.0, -0.5),  # aVL = I - II / 2
    "aVF": (-0.5, 1.0),  # aVF = II - I / 2
}
"""Limb lead -> its weights ``(w_I, w_II)``: ``lead = w_I * I + w_II * II``."""

QUANTIZER_KINDS = ("ecgbyte.quantizer", "ecgbyte.hysteresis_quantizer")


@dataclass(frozen=True)
class Preset:
    """A named representation: leads, signal pipeline, quantizer and BPE settings (see the module doc).

    Attributes
    ----------
    name : the preset's name (``paper``, ``compact``, or your own).
    leads : the leads that are encoded, in token order.
    derived : leads rebuilt from I and II at decode time (keys of :data:`DERIVED_LEADS`).
    preprocess : the signal pipeline; its ``target_fs`` is the tokens' rate.
    n_merges, min_frequency : BPE training.
    quantizer : quantizer kind (a key of :data:`ecgbyte.symbols.registry.QUANTIZERS`).
    n_symbols : quantizer bins (2..26).
    hysteresis : hysteresis in bins (``ecgbyte.hysteresis_quantizer`` only).
    percentiles : the quantizer's range percentiles.
    """

    name: str
    leads: tuple[str, ...]
    derived: tuple[str, ...] = ()
    preprocess: PreprocessConfig = PreprocessConfig()  # noqa: RUF009 - frozen dataclass
    n_merges: int = 3500
    min_frequency: int = 2
    quantizer: str = "ecgbyte.quantizer"
    n_symbols: int = 26
    hysteresis: float = 0.0
    percentiles: tuple[float, float] = (1.0, 99.0)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a preset needs a name, got {self.name!r}")
        leads = tuple(canonical_lead_name(x) or x for x in self.leads)
        derived = tuple(canonical_lead_name(x) or x for x in self.derived)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "derived", derived)
        object.__setattr__(self, "percentiles", tuple(float(p) for p in self.percentiles))
        if not leads or len(set(leads)) != len(leads):
            raise ConfigError(f"preset {self.name!r}: leads must be distinct lead names, got {list(leads)}")
        unknown = [d for d in derived if d not in DERIVED_LEADS]
        if unknown:
            raise ConfigError(
                f"preset {self.name!r}: cannot rebuild {', '.join(unknown)}; derived leads are some of "
                f"{', '.join(DERIVED_LEADS)}"
            )
        if derived and not {"I", "II"} <= set(leads):
            raise ConfigError(f"preset {self.name!r}: derived leads need I and II among the encoded leads")
        if set(derived) & set(leads):
            raise ConfigError(f"preset {self.name!r}: a lead cannot be both encoded and derived")
        if not isinstance(self.preprocess, PreprocessConfig):
            raise ConfigError(f"preset {self.name!r}: preprocess must be a PreprocessConfig")
        if self.quantizer not in QUANTIZER_KINDS:
            raise ConfigError(
                f"preset {self.name!r}: quantizer {self.quantizer!r} is not one of {', '.join(QUANTIZER_KINDS)}"
            )
        if self.hysteresis and self.quantizer != "ecgbyte.hysteresis_quantizer":
            raise ConfigError(f"preset {self.name!r}: hysteresis needs the ecgbyte.hysteresis_quantizer kind")
        for key, lo in (("n_merges", 0), ("min_frequency", 1), ("n_symbols", 2)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ConfigError(f"preset {self.name!r}: {key} must be an integer >= {lo}, got {v!r}")

    # -- what the tokens mean ---------------------------------------------------------------------
    @property
    def fs(self) -> float:
        """The tokens' sampling rate in Hz."""
        return float(self.preprocess.target_fs)

    @property
    def output_leads(self) -> tuple[str, ...]:
        """The leads :meth:`rebuild` returns: encoded and derived, in standard order."""
        have = set(self.leads) | set(self.derived)
        return tuple(x for x in STANDARD_LEADS if x in have) + tuple(
            x for x in self.leads if x not in STANDARD_LEADS
        )

    def check_record(self, ecg: Ecg) -> None:
        """Raise a one-line :class:`RecordError` if ``ecg`` cannot be encoded with this preset.

        Its leads must hold every encoded lead (``reason="missing_lead"``) and its rate must be at
        least the preset's (``reason="rate"``: resampling up would invent the missing band). A
        record already preprocessed with this preset's pipeline passes as it is.
        """
        have = {canonical_lead_name(x) or x for x in ecg.leads}
        missing = [x for x in self.leads if x not in have]
        if missing:
            rebuilt = f" and rebuilds {', '.join(self.derived)} from I and II" if self.derived else ""
            raise RecordError(
                f"lead(s) {', '.join(missing)} missing (found {', '.join(ecg.leads) or 'none'}); the "
                f"{self.name!r} representation encodes {', '.join(self.leads)}{rebuilt}: pass a record "
                "with these leads",
                path=ecg.name,
                reason="missing_lead",
            )
        if ecg.meta.get("preprocess_hash") == self.preprocess.hash():
            return
        if self.preprocess.resample and ecg.fs < self.fs:
            raise RecordError(
                f"sampled at {ecg.fs:g} Hz, below the {self.fs:g} Hz of the {self.name!r} representation; "
                f"resampling up cannot restore the missing band: pass a record at >= {self.fs:g} Hz "
                "(e.g. PTB-XL records500) or use a preset with a lower rate",
                path=ecg.name,
                reason="rate",
            )

    def rebuild(self, decoded: np.ndarray) -> np.ndarray:
        """Decoded encoded leads ``[len(leads), samples]`` -> :attr:`output_leads` ``[n, samples]``, float32."""
        x = np.asarray(decoded, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(self.leads):
            raise TokenizerError(
                f"preset {self.name!r}: expected {len(self.leads)} decoded leads, got shape {x.shape}"
            )
        rows = {name: x[i] for i, name in enumerate(self.leads)}
        for name in self.derived:
            w1, w2 = DERIVED_LEADS[name]
            rows[name] = (w1 * rows["I"] + w2 * rows["II"]).astype(np.float32)
        return np.stack([rows[name] for name in self.output_leads]).astype(np.float32, copy=False)

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (the preprocess config nested)."""
        out = dataclasses.asdict(self)
        out.update(
            leads=list(self.leads),
            derived=list(self.derived),
            preprocess=self.preprocess.to_dict(),
            percentiles=list(self.percentiles),
        )
        return out

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "<preset>") -> Preset:
        """Inverse of :meth:`to_dict`; anything wrong raises :class:`TokenizerError` naming ``where``."""
        if not isinstance(data, dict):
            raise TokenizerError(f"{where}: 'preset' must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TokenizerError(
                f"{where}: unknown preset key(s) {', '.join(unknown)}; this ecgbyte is older than the "
                "tokenizer, upgrade it"
            )
        try:
            kw = dict(data)
            kw["preprocess"] = PreprocessConfig.from_dict(kw.get("preprocess", {}))
            for key in ("leads", "derived", "percentiles"):
                if key in kw:
                    kw[key] = tuple(kw[key])
            return cls(**kw)
        except (ConfigError, TypeError) as exc:
            raise TokenizerError(f"{where}: invalid preset: {exc}") from None


def _compact() -> Preset:
    pre = PreprocessConfig(bandpass_high=40.0, target_fs=100.0, segment_length=1000)
    return Preset(
        name="compact",
        leads=INDEPENDENT_LEADS,
        derived=tuple(DERIVED_LEADS),
        preprocess=pre,
        n_merges=5000,
        quantizer="ecgbyte.hysteresis_quantizer",
        n_symbols=22,
        hysteresis=0.25,
    )


PRESETS: dict[str, Preset] = {
    "paper": Preset(name="paper", leads=STANDARD_LEADS, preprocess=PreprocessConfig(), n_merges=3500),
    "compact": _compact(),
}
"""The named presets (``train-tokenizer --preset NAME``)."""


def get_preset(preset: str | Preset, **overrides: Any) -> Preset:
    """The preset named ``preset`` (or ``preset`` itself) with ``overrides`` applied (e.g. ``n_merges``)."""
    if isinstance(preset, Preset):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(base, **overrides) if overrides else base


def preset_name(tokenizer: Any) -> str | None:
    """The name of the preset a tokenizer was made from; ``None`` for one made without."""
    preset = getattr(tokenizer, "preset", None)
    return preset.name if preset is not None else None


def check_preset(tokenizer: Any, expect: str, *, where: str) -> None:
    """Raise :class:`TokenizerError` unless ``tokenizer`` was made from preset ``expect``.

    A folder made before presets counts as ``paper`` only if its settings are the paper's
    (12 leads, the paper's preprocessing); ``where`` names the folder in the message.
    """
    got = preset_name(tokenizer)
    if got is None and expect == "paper":
        pre = getattr(tokenizer, "preprocess", None)
        if tuple(getattr(tokenizer, "leads", ())) == STANDARD_LEADS and pre is not None:
            if dataclasses.replace(pre, segment_length=None) == dataclasses.replace(
                PRESETS["paper"].preprocess, segment_length=None
            ):
                return
    if got != expect:
        got_text = f"the {got!r} representation" if got else "no named representation (made before presets)"
        raise TokenizerError(
            f"{where}: holds a tokenizer of {got_text}, but this run expects {expect!r}; pass a tokenizer "
            f"trained with `ecgbyte train-tokenizer SRC OUT --preset {expect}`"
        )


__all__ = [
    "DERIVED_LEADS",
    "INDEPENDENT_LEADS",
    "PRESETS",
    "Preset",
    "check_preset",
    "get_preset",
    "preset_name",
]
