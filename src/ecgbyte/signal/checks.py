"""Signal checks that reject records the pipeline cannot use, each with a reason tag.

Reasons (``RecordError.reason``), counted by the batch job:

- ``"empty"``: no lead or no sample;
- ``"non_finite"``: +/-inf anywhere (NaN is left to :mod:`ecgbyte.signal.gaps`);
- ``"flat"``: every lead is constant (peak-to-peak at most ``flat_tol_mv``), e.g. a
  disconnected recorder;
- ``"too_short"``: fewer samples than one segment after resampling.

A *single* flat lead does not reject the record: real 12-lead files have a lead
off now and then, and the other leads still carry the ECG. :func:`flat_leads`
returns such leads so the pipeline can log them and note them in ``meta``.
"""

from __future__ import annotations

import numpy as np

from ecgbyte.errors import RecordError

__all__ = ["check_signal", "flat_leads"]


def flat_leads(x: np.ndarray, tol_mv: float = 1e-6) -> np.ndarray:
    """Boolean ``[leads]``: which rows of ``x`` ``[leads, samples]`` are flat (NaN ignored).

    A lead is flat when its peak-to-peak amplitude is at most ``tol_mv`` mV. An
    all-NaN lead is not reported here (the gap filler rejects it).
    """
    x = np.asarray(x)
    if x.shape[-1] == 0:
        return np.ones(x.shape[:-1], dtype=bool)
    ptp = np.fmax.reduce(x, axis=-1) - np.fmin.reduce(x, axis=-1)
    return ptp <= tol_mv


def check_signal(
    x: np.ndarray,
    fs: float,
    *,
    min_samples: int = 1,
    flat_tol_mv: float = 1e-6,
    where: str = "<array>",
) -> None:
    """Raise :class:`RecordError` if ``x`` ``[leads, samples]`` (mV, ``fs`` Hz) is unusable.

    Parameters
    ----------
    x : array ``[leads, samples]``.
    fs : sampling rate in Hz (used in messages).
    min_samples : fewest samples accepted (``"too_short"`` below it).
    flat_tol_mv : peak-to-peak amplitude (mV) at or below which a lead is flat.
    where : record name put in every message.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        raise RecordError(
            f"empty signal (shape {x.shape}); expected [leads, samples] with at least one sample",
            path=where,
            reason="empty",
        )
    inf = np.isinf(x)
    if inf.any():
        lead, sample = np.argwhere(inf)[0]
        raise RecordError(
            f"{int(inf.sum())} infinite value(s), first in row {lead} at sample {sample} "
            f"({sample / fs:.3f} s); the file is likely corrupt",
            path=where,
            reason="non_finite",
        )
    n = x.shape[-1]
    if n < min_samples:
        raise RecordError(
            f"too short: {n} samples ({n / fs:.3g} s at {fs:g} Hz), need at least {min_samples} "
            "for one segment; lower segment_length or skip this record",
            path=where,
            reason="too_short",
        )
    if flat_leads(x, flat_tol_mv).all():
        raise RecordError(
            f"flat-line signal: every lead is constant (peak-to-peak <= {flat_tol_mv} mV)",
            path=where,
            reason="flat",
        )
