"""Reading ECG records and datasets: WFDB, NumPy, dataset layouts and preprocessed shards.

:func:`read_record` dispatches on the file type; :func:`discover` lists the records of a
plain directory, PTB-XL or MIMIC-IV-ECG; :mod:`ecgbyte.io.shards` reads what
``ecgbyte preprocess`` writes. Every failure is an :class:`~ecgbyte.errors.RecordError`
(one file) or :class:`~ecgbyte.errors.DatasetError` (the whole source) naming the path.
This package never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import RecordError
from ecgbyte.io.layouts import LAYOUTS, RecordRef, detect_layout, discover, parse_scp_codes
from ecgbyte.io.numpy_reader import read_numpy
from ecgbyte.io.wfdb_reader import WFDB_SUFFIXES, read_wfdb

__all__ = [
    "LAYOUTS",
    "RecordRef",
    "detect_layout",
    "discover",
    "iter_segments",
    "parse_scp_codes",
    "read_numpy",
    "read_record",
    "read_wfdb",
]


def read_record(
    path: str | Path,
    *,
    leads: Sequence[str] | None = STANDARD_LEADS,
    fs: float | None = None,
) -> Ecg:
    """Read one record of any supported type into an :class:`Ecg` (float32 ``[leads, samples]``, mV).

    Parameters
    ----------
    path : a WFDB ``.hea``/``.dat``/``.mat`` file or record stem, a ``.npy`` or an ``.npz``.
    leads : leads to return in this order; ``None`` keeps the standard leads present.
    fs : sampling rate in Hz. Required for ``.npy``; for WFDB and ``.npz`` files that
        store a rate it is checked (a mismatch raises, ``reason="fs_mismatch"``).

    Raises
    ------
    RecordError
        Naming the file, with a ``reason`` tag; ``unknown_type`` for other suffixes,
        ``missing_file`` when nothing exists at ``path``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        return read_numpy(p, fs=fs, leads=leads)
    if suffix in WFDB_SUFFIXES or Path(f"{p}.hea").is_file():
        return read_wfdb(p, fs=fs, leads=leads)
    if p.is_dir():
        raise RecordError(
            "is a directory; use ecgbyte.io.discover() for datasets", path=p, reason="unknown_type"
        )
    if not p.exists():
        raise RecordError("no such file (and no WFDB header beside it)", path=p, reason="missing_file")
    raise RecordError(
        f"unknown file type {p.suffix or '(no suffix)'!r}; expected .hea/.dat/.mat (WFDB), .npy or .npz",
        path=p,
        reason="unknown_type",
    )


def __getattr__(name: str):  # lazy: shards pulls in nothing heavy, but keep import order simple
    if name == "iter_segments":
        from ecgbyte.io.shards import iter_segments

        return iter_segments
    raise AttributeError(f"module 'ecgbyte.io' has no attribute {name!r}")
