"""Read one WFDB record (``.hea`` header plus ``.dat``/``.mat`` signal files) into an :class:`Ecg`.

This is the only module that talks to ``wfdb``. It checks what ``wfdb`` lets through
silently before reading any samples: a header without a sampling rate (``wfdb`` assumes
250 Hz), a signal count that disagrees with the signal lines, a missing signal file.
Physical values are converted to mV (``mV``, ``mv``, a missing unit, ``uV``, ``V``),
leads are reordered by name into :data:`~ecgbyte.ecg.STANDARD_LEADS` and extra signals
(Frank leads ``vx, vy, vz``...) are dropped and listed in ``meta["dropped_signals"]``.

Sizes are checked against the header before any sample is read: every signal file must hold
exactly the bytes its signals' format, samples per frame, byte offset and the record's length
describe (a header that lists 11 signals over a 12-channel file is refused, not read as
garbage), only those bytes are read (a 2 GB file under a 10 s header is never loaded), and a
record holds at most :data:`~ecgbyte.limits.MAX_RECORD_VALUES` samples. Gains must be finite;
a negative gain (which inverts the signal) is read with a warning. A header checksum that
disagrees with the samples is logged and listed in ``meta["checksum_mismatch"]`` (compared
modulo 2**16: PTB-XL writes them unsigned, the WFDB spec signed).

Every failure is a :class:`~ecgbyte.errors.RecordError` naming the file, with a
``reason`` tag among ``missing_file, missing_header, missing_data, corrupt_header,
missing_fs, bad_fs, fs_mismatch, lead_count, corrupt_data, truncated, size_mismatch,
too_long, bad_gain, units, missing_lead``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS, Ecg, canonical_lead_name, reorder_leads
from ecgbyte.errors import RecordError
from ecgbyte.limits import MAX_FS_HZ, MAX_HEADER_BYTES, MAX_RECORD_VALUES, MIN_FS_HZ

log = logging.getLogger(__name__)
MAX_SIGNALS = 256
"""Signals in one header (a 12-lead ECG with Frank leads has 15)."""

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
        if hea.stat().st_size > MAX_HEADER_BYTES:
            raise RecordError(
                f"header is {hea.stat().st_size} bytes, more than a WFDB header holds ({MAX_HEADER_BYTES})",
                path=hea,
                reason="corrupt_header",
            )
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
    if n_sig > MAX_SIGNALS:
        raise RecordError(
            f"record line announces {n_sig} signals, more than {MAX_SIGNALS}; the header is damaged",
            path=hea,
            reason="lead_count",
        )
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
    if not (np.isfinite(fs) and MIN_FS_HZ <= fs <= MAX_FS_HZ):
        raise RecordError(
            f"sampling rate {fields[2]!r} in the record line is not a number of Hz in {MIN_FS_HZ:g}..{MAX_FS_HZ:g}",
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
    if sig_len is not None and n_sig * sig_len > MAX_RECORD_VALUES:
        raise RecordError(
            f"header announces {sig_len} samples x {n_sig} signals, more than ecgbyte reads in one record "
            f"({MAX_RECORD_VALUES} values); cut the recording into shorter records",
            path=hea,
            reason="too_long",
        )
    return n_sig, fs, sig_len, [ln.split()[0] for ln in body[1:]]


# -- sizes and gains, checked against the header before reading ------------------------------
_FORMAT = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
# WFDB format -> (bits per sample, samples per packed group); FLAC formats are compressed
_PACKING = {8: (8, 1), 16: (16, 1), 24: (24, 1), 32: (32, 1), 61: (16, 1), 80: (8, 1), 160: (16, 1)}
_PACKING.update({212: (12, 2), 310: (32, 3), 311: (32, 3)})
_FLAC = (508, 516, 524)


def _check_sizes(hea: Path, body: list[str], n_sig: int, sig_len: int | None) -> None:
    """Check gains, and each signal file's size against what the header describes (exactly).

    Lines this cannot parse are left to ``wfdb`` (which reports them as a corrupt header).
    """
    files: dict[str, list[tuple[int, int, int]]] = {}  # file -> [(format, samples/frame, offset)]
    for ln in body[1:]:
        f = ln.split()
        m = _FORMAT.match(f[1]) if len(f) > 1 else None
        if m is None:
            return
        g = _GAIN.match(f[2]) if len(f) > 2 else None
        if g is not None and _is_float(g.group(1)):
            _check_gain(float(g.group(1)), f, hea)
        files.setdefault(f[0], []).append((int(m.group(1)), int(m.group(2) or 1), int(m.group(4) or 0)))
    for fname, sigs in files.items():
        path = hea.parent / fname
        fmts, offsets = {s[0] for s in sigs}, {s[2] for s in sigs}
        if len(fmts) != 1 or len(offsets) != 1:
            return  # not valid WFDB; wfdb reports it
        fmt, offset = fmts.pop(), offsets.pop()
        size = path.stat().st_size
        per_frame = sum(s[1] for s in sigs)
        if fmt in _FLAC or fmt not in _PACKING:
            if size > 4 * MAX_RECORD_VALUES:
                raise RecordError(
                    f"signal file is {size} bytes, too large for one record", path=path, reason="too_long"
                )
            continue
        bits, group = _PACKING[fmt]
        if sig_len is None:  # wfdb takes the length from the file size: bound it
            if (size - offset) * 8 // bits > MAX_RECORD_VALUES:
                raise RecordError(
                    f"signal file holds more than {MAX_RECORD_VALUES} samples and the header gives no length",
                    path=path,
                    reason="too_long",
                )
            continue
        n = sig_len * per_frame
        low = offset + -(-n * bits // 8)
        high = offset + -(-n // group) * group * bits // 8
        _check_size(
            path, size, low, high, f"{len(sigs)} signal(s) x {sig_len} samples in format {fmt}", offset
        )


def _check_gain(gain: float, fields: list[str], hea: Path) -> None:
    """A gain must be finite; a negative one (the signal reads inverted) is allowed with a warning."""
    if math.isfinite(gain) and gain >= 0:
        return
    name = " ".join(fields[8:]) or fields[0]
    if not math.isfinite(gain):
        raise RecordError(
            f"signal {name!r} has gain {fields[2]!r}, not a finite number", path=hea, reason="bad_gain"
        )
    warnings.warn(f"{hea}: signal {name!r} has a negative gain ({gain:g}): it is read inverted", stacklevel=4)


def _check_size(path: Path, size: int, low: int, high: int, what: str, offset: int) -> None:
    """Refuse a signal file whose ``size`` (bytes) is outside ``[low, high]``, what the header describes."""
    if low <= size <= high:
        return
    expected = f"{low} bytes" if low == high else f"{low}..{high} bytes"
    raise RecordError(
        f"header describes {what} ({expected}{f' from byte {offset}' if offset else ''}) but the signal "
        f"file holds {size} bytes; "
        + (
            "the file is truncated"
            if size < low
            else "the header does not match the file (wrong signal count or length)"
        ),
        path=path,
        reason="truncated" if size < low else "size_mismatch",
    )


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?\d{1,18}", text))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- fast path: the common case of one format-16 signal file ---------------------------------
# PTB-XL, CinC 2021, PTB and MIMIC-IV-ECG records all store interleaved little-endian int16
# samples in one file. Reading those with np.fromfile is ~10x faster than wfdb.rdrecord
# (whose header parsing goes through pandas); anything else falls back to wfdb.
_GAIN = re.compile(r"^([-+0-9.eE]+)(?:\(([-+0-9]+)\))?(?:/(.*))?$")
_FMT16 = re.compile(r"^16(?:x1)?(?:\+(\d+))?$")
_WFDB_INVALID_16 = -32768


def _read_fmt16(hea: Path, lines: list[str], n_sig: int, sig_len: int | None):
    """Return ``(samples [n, n_sig] float64 physical, names, units, comments, checksum mismatches)`` or ``None``.

    ``None`` means the record is not a plain single-file format-16 record and
    ``wfdb`` must read it.
    """
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
    if not sig_len:
        return None
    files, offsets, gains, baselines, units, names, sums = set(), set(), [], [], [], [], []
    parsed: list[tuple[float, list[str]]] = []
    for ln in body[1:]:
        f = ln.split()
        if len(f) < 9:
            return None
        m = _FMT16.match(f[1])
        g = _GAIN.match(f[2])
        if m is None or g is None or not _is_float(g.group(1)) or not _is_int(g.group(2) or f[4]):
            return None  # wfdb reads (or reports) what this does not parse
        files.add(f[0])
        offsets.add(int(m.group(1) or 0))
        gain = float(g.group(1))
        parsed.append((gain, f))
        gains.append(gain if gain != 0 else 200.0)  # WFDB: gain 0 means the default 200
        baselines.append(int(g.group(2)) if g.group(2) is not None else int(f[4]))
        units.append(g.group(3) or "")
        names.append(" ".join(f[8:]))
        sums.append(int(f[6]) if _is_int(f[6]) else None)
    if len(files) != 1 or len(offsets) != 1:
        return None
    for gain, f in parsed:
        _check_gain(gain, f, hea)
    dat, offset = hea.parent / files.pop(), offsets.pop()
    need = n_sig * sig_len
    size, what = dat.stat().st_size, f"{n_sig} signal(s) x {sig_len} samples in format 16"
    _check_size(dat, size, offset + 2 * need, offset + 2 * need, what, offset)  # only then read
    try:
        raw = np.fromfile(dat, dtype="<i2", count=need, offset=offset)
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
    mismatch: list[str] = []
    if all(c is not None for c in sums):  # header checksums: PTB-XL stores them unsigned, so mod 2**16
        bad = (_column_sums(digital) - np.asarray(sums, np.int64)) % 65536 != 0
        mismatch = [n for n, b in zip(names, bad) if b]
        if mismatch:
            log.warning("%s: header checksum disagrees with the samples of %s", hea, ", ".join(mismatch))
    phys = (digital - np.asarray(baselines, np.float64)) / np.asarray(gains, np.float64)
    invalid = digital == _WFDB_INVALID_16
    if invalid.any():
        phys[invalid] = np.nan
    return phys, names, units, comments, mismatch


def _column_sums(digital: np.ndarray) -> np.ndarray:
    """int64 sum of each column of ``[n, c]`` samples: rows folded first (a reduce over 12-wide rows is slow)."""
    n, c = digital.shape
    m = next(k for k in range(min(n, 64), 0, -1) if n % k == 0)
    return digital.reshape(n // m, m * c).sum(axis=0, dtype=np.int64).reshape(m, c).sum(axis=0)


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
    fast = _read_fmt16(hea, lines, n_sig, sig_len)  # checks its own sizes and gains
    if fast is not None:
        sig, names, units, comments, mismatch = fast
    else:
        _check_sizes(hea, [ln for ln in lines if ln and not ln.startswith("#")], n_sig, sig_len)
        sig, names, units, comments, mismatch = _read_with_wfdb(stem, hea, n_sig, sig_len)
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
    if mismatch:
        meta["checksum_mismatch"] = mismatch
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
    return sig, names, units, list(rec.comments or []), []
