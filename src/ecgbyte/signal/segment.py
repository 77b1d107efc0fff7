"""Non-overlapping segmentation of a record into fixed-length windows.

ECG-Byte cuts each preprocessed 250 Hz record into windows of 500, 1250 or 2500
samples (2, 5, 10 s); the tail shorter than one window is dropped, as in the
paper's ``segment_ecg``. Each segment is an :class:`~ecgbyte.ecg.Ecg` carrying its
position in ``meta``.
"""

from __future__ import annotations

import numpy as np

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError

__all__ = ["segment", "segment_array"]


def segment_array(x: np.ndarray, length: int) -> np.ndarray:
    """Cut ``x`` ``[leads, samples]`` into ``[n_segments, leads, length]`` (a view; tail dropped)."""
    length = _check_length(length)
    x = np.asarray(x)
    k = x.shape[-1] // length
    return np.moveaxis(x[..., : k * length].reshape(*x.shape[:-1], k, length), -2, 0)


def segment(ecg: Ecg, length: int) -> list[Ecg]:
    """Split ``ecg`` into consecutive non-overlapping segments of ``length`` samples.

    Parameters
    ----------
    ecg : record with signal ``[leads, samples]`` at ``ecg.fs`` Hz.
    length : samples per segment (at ``ecg.fs``).

    Returns
    -------
    ``samples // length`` records with signal ``[leads, length]`` (contiguous copies),
    the same ids and ``meta`` plus ``meta["segment_index"]`` (0, 1, ...) and
    ``meta["segment_start_s"]`` (start time in the source record, s).

    Raises
    ------
    RecordError
        ``reason="too_short"`` when the record is shorter than one segment.
    """
    length = _check_length(length)
    if ecg.n_samples < length:
        raise RecordError(
            f"too short for one segment: {ecg.n_samples} samples at {ecg.fs:g} Hz < {length}",
            path=ecg.name,
            reason="too_short",
        )
    out = []
    for i, seg in enumerate(segment_array(ecg.signal, length)):
        meta = {**ecg.meta, "segment_index": i, "segment_start_s": i * length / ecg.fs}
        out.append(ecg.replace(signal=np.ascontiguousarray(seg), meta=meta))
    return out


def _check_length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
        raise ConfigError(f"segment length must be a positive whole number of samples, got {length!r}")
    return int(length)
