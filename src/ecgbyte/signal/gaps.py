"""Missing values: fill short NaN runs by linear interpolation, reject long ones.

MIMIC-IV-ECG stores some samples as NaN. A run of at most ``max_gap_s`` seconds is
replaced by the straight line between its neighbours (a run at either end takes
the nearest valid value); a longer run, or a lead with no valid sample, rejects the
record with ``RecordError(reason="nan_gap")`` naming it, because interpolating a
missing beat would invent signal. Works on ``[leads, samples]`` arrays in mV.
"""

from __future__ import annotations

import logging

import numpy as np

from ecgbyte.errors import ConfigError, RecordError

log = logging.getLogger(__name__)

__all__ = ["fill_gaps", "nan_runs"]


def nan_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths (samples) of the ``True`` runs of a 1-D boolean ``mask``.

    >>> nan_runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    (array([1, 4]), array([2, 1]))
    """
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    return starts, np.flatnonzero(d == -1) - starts


def fill_gaps(
    x: np.ndarray,
    fs: float,
    max_gap_s: float,
    *,
    where: str = "<array>",
    leads: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, int]:
    """Linearly interpolate NaN runs of at most ``max_gap_s`` seconds, lead by lead.

    Parameters
    ----------
    x : array ``[leads, samples]`` (or ``[samples]``), mV; may contain NaN.
    fs : sampling rate in Hz (turns ``max_gap_s`` into samples: ``floor(max_gap_s * fs)``).
    max_gap_s : longest run that is filled, in seconds.
    where : record name used in error messages.
    leads : lead names used in error messages (default: row numbers).

    Returns
    -------
    ``(y, n_filled)``: float32 ``y`` with the same shape and no NaN, and the number of
    samples filled. ``x`` itself (as float32) when it has no NaN.

    Raises
    ------
    RecordError
        ``reason="nan_gap"`` for a run longer than ``max_gap_s`` or an all-NaN lead.
    """
    if not (np.isfinite(fs) and fs > 0):
        raise ConfigError(f"sampling rate must be a positive number of Hz, got {fs!r}")
    if not (np.isfinite(max_gap_s) and max_gap_s >= 0):
        raise ConfigError(f"max_gap_s must be >= 0 s, got {max_gap_s!r}")
    x = np.asarray(x, dtype=np.float32)
    nan = np.isnan(x)
    if not nan.any():
        return x, 0
    y = np.array(x, dtype=np.float32, copy=True)
    rows = y.reshape(-1, y.shape[-1])
    max_len = int(np.floor(max_gap_s * fs + 1e-9))
    filled = 0
    for i in np.flatnonzero(nan.reshape(rows.shape).any(axis=-1)):
        name = leads[i] if leads is not None and i < len(leads) else f"row {i}"
        row = rows[i]
        bad = np.isnan(row)
        if bad.all():
            raise RecordError(f"lead {name} has no valid sample (all NaN)", path=where, reason="nan_gap")
        starts, lengths = nan_runs(bad)
        longest = int(lengths.argmax())
        if lengths[longest] > max_len:
            raise RecordError(
                f"lead {name} has a run of {lengths[longest]} missing samples ({lengths[longest] / fs:.3g} s) "
                f"at {starts[longest] / fs:.3g} s, longer than max_gap_s={max_gap_s} s; "
                "raise max_gap_s to interpolate it",
                path=where,
                reason="nan_gap",
            )
        idx = np.arange(row.size)
        row[bad] = np.interp(idx[bad], idx[~bad], row[~bad])
        filled += int(bad.sum())
    log.info("%s: filled %d missing sample(s) by linear interpolation", where, filled)
    return y, filled
