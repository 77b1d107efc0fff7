"""Read one WFDB record (``.hea`` header plus ``.dat``/``.mat`` signal files) into an :class:`Ecg`.

This is the only module that talks to ``wfdb``. It checks what ``wfdb`` lets through
silently before reading any samples: a header without a sampling rate (``wfdb`` assumes
250 Hz), a signal count that disagrees with the signal lines, a missing signal file.
Physical values are converted to mV (``mV``, ``mv``, a missing unit, ``uV``, ``V``),
leads are reordered by name into :data:`~ecgbyte.ecg.STANDARD_LEADS` and extra signals
(Frank leads ``vx, vy, vz``...) are dropped and listed in ``meta["dropped_signals"]``.

Every failure is a :class:`~ecgbyte.errors.RecordError` naming the file, with a
``reason`` tag among ``missing_file, missing_header, missing_data, corrupt_header,
missing_fs, bad_fs, fs_mismatch, lead_count, corrupt_data, truncated, units,
missing_lead``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS, Ecg, canonical_lead_name, reorder_leads
from ecgbyte.errors import RecordError

WFDB_SUFFIXES = (".hea", ".dat", ".mat", ".xyz")

# unit spelling (lower-case) -> factor to mV; "" is a missing unit (WFDB's default is mV)
_TO_MV = {
    "": 1.0,
    "mv": 1.0,
    "millivolt": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolt": 1e-3,
    "v": 1e3,
}
_COMMENT_FIELD = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _/().-]{0,60}?)\s*:\s*(.*?)\s*$")


def record_stem(path: str | Path) -> Path:
    """Return the record path without its WFDB suffix (``a/b/00001_hr.hea`` -> ``a/b/00001_hr``)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in WFDB_SUFFIXES else p


def _header_lines(hea: Path) -> list[str]:
    try:
        text = hea.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"cannot read header: {exc}", path=hea, reason="missing_header") from exc
    return [ln.strip() for ln in text.splitlines()]


def _check_record_line(lines: list[str], hea: Path) -> tuple[int, float, int | None, list[str]]:
    """Validate the record line and signal lines; return ``(n_sig, fs, sig_len, signal file names)``.

    Parsed here rather than with ``wfdb.rdheader`` (pandas-based, about as slow as reading
    the samples), so that the header is parsed once per record, by ``wfdb.rdrecord``.
    """
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise RecordError("empty header (no record line)", path=hea, reason="corrupt_header")
    fields = body[0].split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise RecordError(
            f"record line {body[0]!r} has no signal count; expected 'NAME N_SIG FS N_SAMPLES'",
            path=hea,
            reason="corrupt_header",
        )
    n_sig = int(fields[1])
    if len(fields) < 3:
        raise RecordError(
            "header has no sampling rate (wfdb would silently assume 250 Hz); "
            "add it to the record line: 'NAME N_SIG FS N_SAMPLES'",
            path=hea,
            reason="missing_fs",
        )
    raw_fs = re.split(r"[/(]", fields[2])[0]
    try:
        fs = float(raw_fs)
    except ValueError:
        fs = float("nan")
    if not (np.isfinite(fs) and fs > 0):
        raise RecordError(
            f"sampling rate {fields[2]!r} in the record line is not a positive number of Hz",
            path=hea,
            reason="bad_fs",
        )
    n_lines = len(body) - 1
    if n_lines != n_sig:
        raise RecordError(
            f"record line announces {n_sig} signals but the header has {n_lines} signal lines",
            path=hea,
            reason="lead_count",
        )
    sig_len = int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None
    return n_sig, fs, sig_len, [ln.split()[0] for ln in body[1:]]


# -- fast path: the common case of one format-16 signal file ---------------------------------
# PTB-XL, CinC 2021, PTB and MIMIC-IV-ECG records all store interleaved little-endian int16
# samples in one file. Reading those with np.fromfile is ~10x faster than wfdb.rdrecord
# (whose header parsing goes through pandas); anything else falls back to wfdb.
_GAIN = re.compile(r"^([-+0-9.eE]+)(?:\(([-+0-9]+)\))?(?:/(.*))?$")
_FMT16 = re.compile(r"^16(?:x1)?(?:\+(\d+))?$")
_WFDB_INVALID_16 = -32768


def _read_fmt16(hea: Path, lines: list[str], n_sig: int, sig_len: int | None):
    """Return ``(samples [n, n_sig] float64 physical, names, units, comments)`` or ``None``.

    ``None`` means the record is not a plain single-file format-16 record and
    ``wfdb`` must read it.
    """
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
    if not sig_len:
        return None
    files, offsets, gains, baselines, units, names = set(), set(), [], [], [], []
    for ln in body[1:]:
        f = ln.split()
        if len(f) < 9:
            return None
        m = _FMT16.match(f[1])
        g = _GAIN.match(f[2])
        if m is None or g is None:
            return None
        files.add(f[0])
        offsets.add(int(m.group(1) or 0))
        gain = float(g.group(1))
        gains.append(gain if gain != 0 else 200.0)  # WFDB: gain 0 means the default 200
        baselines.append(int(g.group(2)) if g.group(2) is not None else int(f[4]))
        units.append(g.group(3) or "")
        names.append(" ".join(f[8:]))
    if len(files) != 1 or len(offsets) != 1:
        return None
    dat = hea.parent / files.pop()
    need = n_sig * sig_len
    try:
        raw = np.fromfile(dat, dtype="<i2", offset=offsets.pop())
    except (OSError, ValueError) as exc:
        raise RecordError(f"cannot read samples: {exc}", path=dat, reason="corrupt_data") from exc
    if raw.size < need:
        raise RecordError(
            f"header announces {sig_len} samples x {n_sig} signals but the signal file holds "
            f"{raw.size} values; the file is truncated",
            path=dat,
            reason="truncated",
        )
    digital = raw[:need].reshape(sig_len, n_sig)
    phys = (digital - np.asarray(baselines, np.float64)) / np.asarray(gains, np.float64)
    invalid = digital == _WFDB_INVALID_16
    if invalid.any():
        phys[invalid] = np.nan
    return phys, names, units, comments


def parse_comments(comments: Sequence[str]) -> dict[str, str]:
    """Turn header comments like ``"Age: 59"`` into ``{"age": "59"}`` (keys lower-cased)."""
    out: dict[str, str] = {}
    for line in comments:
        m = _COMMENT_FIELD.match(line)
        if m and m.group(2):
            out.setdefault(m.group(1).strip().lower(), m.group(2))
    return out


def _unit_factor(unit: str | None, name: str, where: Path) -> float:
    key = (unit or "").strip().lower()
    if key not in _TO_MV:
        raise RecordError(
            f"signal {name!r} has unit {unit!r}; expected mV, uV or V",
            path=where,
            reason="units",
        )
    return _TO_MV[key]


def read_wfdb(
    path: str | Path,
    *,
    leads: Sequence[str] | None = STANDARD_LEADS,
    fs: float | None = None,
) -> Ecg:
    """Read a WFDB record into an :class:`Ecg` in mV with leads in canonical order.

    Parameters
    ----------
    path : the ``.hea`` file, a signal file (``.dat``/``.mat``) or the record stem.
    leads : leads to return, in this order (names matched case-insensitively, so
        ``AVR``, ``aVR`` and ``avr`` are the same lead). ``None`` keeps the standard
        leads present, in canonical order, without requiring all twelve.
    fs : expected sampling rate in Hz; a record at another rate raises
        (``reason="fs_mismatch"``). ``None`` accepts the header's rate.

    Returns
    -------
    Ecg
        ``signal`` float32 ``[len(leads), samples]`` in mV, ``fs`` from the header,
        ``record_id`` = the record name, ``source`` = the header path, ``meta`` with
        ``comments`` (raw header comments), ``header`` (``"Key: value"`` comments
        parsed, keys lower-cased), ``dropped_signals``, ``units`` and ``format="wfdb"``.

    Raises
    ------
    RecordError
        With ``path`` and a ``reason`` tag (see the module docstring).
    """
    stem = record_stem(path)
    hea = stem.with_name(stem.name + ".hea")
    if not hea.is_file():
        given = Path(path)
        if not given.exists():
            raise RecordError("no such file", path=given, reason="missing_file")
        raise RecordError(
            f"header {hea.name} not found next to {given.name}; a WFDB record needs its .hea file",
            path=given,
            reason="missing_header",
        )
    lines = _header_lines(hea)
    n_sig, header_fs, sig_len, file_names = _check_record_line(lines, hea)
    if fs is not None and not np.isclose(float(fs), header_fs):
        raise RecordError(
            f"record is sampled at {header_fs:g} Hz but {float(fs):g} Hz was asked for; "
            "resample it or pass the matching fs",
            path=hea,
            reason="fs_mismatch",
        )
    if n_sig == 0:
        raise RecordError("header lists no signals", path=hea, reason="lead_count")
    for fname in dict.fromkeys(file_names):
        if not (hea.parent / fname).is_file():
            raise RecordError(
                f"signal file {fname} named in the header is missing",
                path=hea.parent / fname,
                reason="missing_data",
            )
    fast = _read_fmt16(hea, lines, n_sig, sig_len)
    if fast is not None:
        sig, names, units, comments = fast
    else:
        sig, names, units, comments = _read_with_wfdb(stem, hea, n_sig, sig_len)
    sig = sig.T.astype(np.float64, copy=False)
    factors = np.array(
        [
            _unit_factor(u, n, hea) if canonical_lead_name(n) else 1.0
            for n, u in zip(names, units, strict=True)
        ]
    )
    if np.any(factors != 1.0):
        sig = sig * factors[:, None]
    wanted = _present_leads(names) if leads is None else leads
    if not wanted:
        raise RecordError(
            f"no standard ECG lead among the signals ({', '.join(names)})", path=hea, reason="missing_lead"
        )
    out, lead_names, dropped = reorder_leads(sig.astype(np.float32), names, leads=wanted, where=str(hea))
    meta: dict[str, Any] = {
        "format": "wfdb",
        "comments": comments,
        "header": parse_comments(comments),
        "dropped_signals": list(dropped),
        "units": units,
    }
    return Ecg(signal=out, fs=header_fs, leads=lead_names, record_id=stem.name, source=str(hea), meta=meta)


def _present_leads(names: Sequence[str]) -> list[str]:
    present = {canonical_lead_name(n) for n in names}
    return [x for x in STANDARD_LEADS if x in present]


def _read_with_wfdb(stem: Path, hea: Path, n_sig: int, sig_len: int | None):
    """Read any WFDB record through ``wfdb.rdrecord``; same return value as ``_read_fmt16``."""
    import wfdb
    from wfdb.io.header import HeaderSyntaxError

    try:
        rec = wfdb.rdrecord(str(stem), physical=True)
    except HeaderSyntaxError as exc:
        raise RecordError(f"cannot parse header: {exc}", path=hea, reason="corrupt_header") from exc
    except Exception as exc:
        raise RecordError(
            f"cannot read samples ({type(exc).__name__}: {exc}); the signal file is truncated or corrupt",
            path=hea,
            reason="corrupt_data",
        ) from exc
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[1] != n_sig:
        raise RecordError("signal file holds no readable samples", path=hea, reason="corrupt_data")
    if sig_len and sig.shape[0] != sig_len:
        raise RecordError(
            f"header announces {sig_len} samples but the signal file holds {sig.shape[0]}",
            path=hea,
            reason="truncated",
        )
    if sig.shape[0] == 0:
        raise RecordError("record has no samples", path=hea, reason="truncated")
    names = [str(n) for n in rec.sig_name]
    units = [str(u) if u is not None else "" for u in (rec.units or [""] * n_sig)]
    return sig, names, units, list(rec.comments or [])
