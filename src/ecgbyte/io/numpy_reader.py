"""Read an ECG stored as a NumPy ``.npy`` array or ``.npz`` archive into an :class:`Ecg`.

Sibling of :mod:`ecgbyte.io.wfdb_reader` for data that is already an array. Arrays are
``[leads, samples]`` in mV and are loaded with ``allow_pickle=False`` (object arrays are
refused: nothing a user supplies is unpickled).

- ``.npy``: one array; rows are the standard leads in canonical order unless
  ``leads_in_file`` names them; the sampling rate must be passed (``fs=``).
- ``.npz``: key ``signal`` (or ``ecg``, or the only array), optional ``fs`` (Hz),
  ``leads`` (names of the rows) and ``units`` (``mV``/``uV``/``V``).

Before an array is loaded its header is read and checked: at most
:data:`~ecgbyte.limits.MAX_RECORD_VALUES` values, and exactly as many bytes stored as the header's
shape and dtype describe (``.npy`` file size; an ``.npz`` member's unpacked size, so a zip bomb
is refused before it is inflated).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS, Ecg, canonical_lead_name, reorder_leads
from ecgbyte.errors import RecordError
from ecgbyte.limits import MAX_FS_HZ, MAX_RECORD_VALUES, MIN_FS_HZ

_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


_SMALL_MEMBER = 1 << 20  # fs, leads, units: a few bytes


def _check_array_header(fp: Any, stored: int, where: Path, *, limit: int = MAX_RECORD_VALUES) -> None:
    """Read a ``.npy`` header from ``fp``; refuse object dtypes, more than ``limit`` values, or a
    ``stored`` byte count other than the header plus the data it describes."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read(fp)
    except Exception as exc:  # numpy parses the header with ast/tokenize: any of their errors means damage
        raise RecordError(
            f"not a readable NumPy array ({type(exc).__name__}: {str(exc)[:120]})",
            path=where,
            reason="corrupt_data",
        ) from None
    if dtype.hasobject:
        raise RecordError(
            "holds an object array; object arrays are refused", path=where, reason="corrupt_data"
        )
    n = int(np.prod(shape, dtype=object)) if shape else 1
    if n > limit:
        raise RecordError(
            f"array of shape {shape} holds {n} values, more than ecgbyte reads in one record ({limit})",
            path=where,
            reason="too_long",
        )
    expected = fp.tell() + n * dtype.itemsize
    if stored != expected:
        raise RecordError(
            f"header describes shape {shape} of {dtype} ({expected} bytes) but {stored} bytes are stored; "
            "the file is damaged",
            path=where,
            reason="truncated" if stored < expected else "size_mismatch",
        )


def _load(p: Path) -> Any:
    try:
        if p.suffix.lower() == ".npy":
            with open(p, "rb") as fp:
                _check_array_header(fp, p.stat().st_size, p)
        else:
            with zipfile.ZipFile(p) as zf:
                for info in zf.infolist():
                    if info.filename.endswith(".npy"):
                        small = info.filename[:-4] in ("fs", "leads", "units")
                        if info.file_size > (_SMALL_MEMBER if small else 16 * MAX_RECORD_VALUES + 4096):
                            raise RecordError(
                                f"member {info.filename} unpacks to {info.file_size} bytes, more than a record "
                                "holds",
                                path=p,
                                reason="too_long",
                            )
                        with zf.open(info) as fp:
                            _check_array_header(fp, info.file_size, p)
        return np.load(p, allow_pickle=False)
    except RecordError:
        raise
    except FileNotFoundError as exc:
        raise RecordError("no such file", path=p, reason="missing_file") from exc
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise RecordError(
            f"not a readable NumPy file ({exc}); object arrays are refused", path=p, reason="corrupt_data"
        ) from exc


def _from_npz(p: Path) -> tuple[np.ndarray, float | None, list[str] | None, str]:
    with _load(p) as z:
        keys = list(z.files)
        key = next((k for k in ("signal", "ecg") if k in keys), None)
        if key is None:
            arrays = [k for k in keys if k not in ("fs", "leads", "units")]
            if len(arrays) != 1:
                raise RecordError(
                    f"cannot tell which array is the signal (keys: {', '.join(keys) or 'none'}); "
                    "store it under the key 'signal'",
                    path=p,
                    reason="corrupt_data",
                )
            key = arrays[0]
        try:
            sig = z[key]
            fs = float(z["fs"]) if "fs" in keys else None
            names = [str(x) for x in np.atleast_1d(z["leads"])] if "leads" in keys else None
            units = str(z["units"]) if "units" in keys else "mV"
        except (ValueError, TypeError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise RecordError(f"damaged .npz member ({exc})", path=p, reason="corrupt_data") from exc
    return sig, fs, names, units


def read_numpy(
    path: str | Path,
    *,
    fs: float | None = None,
    leads: Sequence[str] | None = STANDARD_LEADS,
    leads_in_file: Sequence[str] | None = None,
) -> Ecg:
    """Read a ``.npy``/``.npz`` ECG.

    Parameters
    ----------
    path : ``.npy`` or ``.npz`` file holding ``[leads, samples]`` in mV.
    fs : sampling rate in Hz. Required for ``.npy``; for ``.npz`` it must match the
        stored ``fs`` when both are present.
    leads : leads to return, in this order; ``None`` keeps the standard leads present.
    leads_in_file : names of the rows of the stored array; default: the ``leads`` key
        of an ``.npz``, else the twelve standard leads in canonical order.

    Returns
    -------
    Ecg
        float32 ``[len(leads), samples]`` in mV; ``record_id`` = file stem,
        ``meta["format"]`` = ``"npy"``/``"npz"``, ``meta["dropped_signals"]``.

    Raises
    ------
    RecordError
        ``missing_file``, ``corrupt_data``, ``missing_fs``, ``bad_fs``, ``fs_mismatch``,
        ``lead_count`` (rows do not match the lead names), ``units``, ``missing_lead``,
        ``unknown_type``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        sig, stored_fs, names, units = _load(p), None, None, "mV"
        if not isinstance(sig, np.ndarray):
            raise RecordError("expected one array in the .npy file", path=p, reason="corrupt_data")
    elif suffix == ".npz":
        sig, stored_fs, names, units = _from_npz(p)
    else:
        raise RecordError(f"not a NumPy file (suffix {p.suffix!r})", path=p, reason="unknown_type")
    if fs is not None and stored_fs is not None and not np.isclose(float(fs), stored_fs):
        raise RecordError(
            f"fs={float(fs):g} Hz was passed but the file stores fs={stored_fs:g} Hz",
            path=p,
            reason="fs_mismatch",
        )
    rate = fs if fs is not None else stored_fs
    if rate is None:
        raise RecordError(
            "a .npy file carries no sampling rate; pass fs=... (Hz), or use an .npz with an 'fs' entry",
            path=p,
            reason="missing_fs",
        )
    if not (np.isfinite(float(rate)) and MIN_FS_HZ <= float(rate) <= MAX_FS_HZ):
        raise RecordError(
            f"sampling rate {rate!r} is not a number of Hz in {MIN_FS_HZ:g}..{MAX_FS_HZ:g}",
            path=p,
            reason="bad_fs",
        )
    if sig.dtype.kind not in "fiu" or sig.ndim != 2:
        raise RecordError(
            f"expected a numeric 2-D array [leads, samples], got dtype {sig.dtype} shape {sig.shape}",
            path=p,
            reason="corrupt_data",
        )
    names = list(leads_in_file) if leads_in_file is not None else (names or list(STANDARD_LEADS))
    if sig.shape[0] != len(names):
        hint = " (it looks transposed: store [leads, samples])" if sig.shape[1] == len(names) else ""
        raise RecordError(
            f"array has {sig.shape[0]} rows but {len(names)} lead names are expected{hint}",
            path=p,
            reason="lead_count",
        )
    if sig.shape[1] == 0:
        raise RecordError("array has no samples", path=p, reason="truncated")
    factor = _TO_MV.get(units.strip().lower())
    if factor is None:
        raise RecordError(f"unit {units!r} is not one of mV, uV, V", path=p, reason="units")
    x = sig.astype(np.float32) * np.float32(factor) if factor != 1.0 else sig.astype(np.float32)
    if leads is None:
        present = {canonical_lead_name(n) for n in names}
        leads = [x_ for x_ in STANDARD_LEADS if x_ in present]
        if not leads:
            raise RecordError("no standard ECG lead among the rows", path=p, reason="missing_lead")
    out, lead_names, dropped = reorder_leads(x, names, leads=leads, where=str(p))
    meta = {"format": suffix[1:], "dropped_signals": list(dropped)}
    return Ecg(signal=out, fs=float(rate), leads=lead_names, record_id=p.stem, source=str(p), meta=meta)
