"""Resampling to the model's rate (250 Hz in ECG-Byte) by cubic interpolation.

The paper's code fits a cubic spline (``scipy.interpolate.interp1d(kind="cubic")``)
through each lead and evaluates it on the new grid. Here the grids are the sample
instants themselves: input sample ``i`` sits at ``i / fs`` s and output sample ``k``
at ``k / target_fs`` s, for every ``k`` with ``k / target_fs < n / fs`` (so the
output has ``ceil(n * target_fs / fs)`` samples: 5000 @ 500 Hz -> 2500 @ 250 Hz,
1000 @ 100 Hz -> 2500, 38400 @ 1000 Hz -> 9600). The original instead spreads both
grids with ``linspace(0, duration, n, endpoint=True)``, which stretches time by
``1 / (n - 1)`` (0.02 % at 5000 samples) and makes every output sample an
interpolated one.

On the sample grid, a downsampling by an integer ratio ``r`` only evaluates the
spline at its own knots, where an interpolating spline equals the data: the result
is exactly ``x[..., ::r]`` (tested), so that case skips the spline. Like the
paper's code, no anti-alias filter is applied: the 100 Hz band-pass upstream keeps
the content below the 125 Hz Nyquist of 250 Hz.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.interpolate import CubicSpline

from ecgbyte.errors import ConfigError

__all__ = ["output_length", "resample"]


def output_length(n_samples: int, fs: float, target_fs: float) -> int:
    """Number of samples :func:`resample` returns: ``ceil(n_samples * target_fs / fs)``."""
    return math.ceil(_ratio(fs, target_fs) * n_samples)


def resample(x: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Resample ``x`` from ``fs`` to ``target_fs`` Hz with a cubic spline on the sample grid.

    Parameters
    ----------
    x : array ``[leads, samples]`` or ``[samples]``, mV.
    fs : sampling rate of ``x`` in Hz.
    target_fs : wanted sampling rate in Hz.

    Returns
    -------
    float32 array ``[leads, output_length(samples, fs, target_fs)]``; the input itself
    (as float32) when the rates are equal, ``x[..., ::r]`` for an integer ratio ``r``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10, dtype=np.float32)[None]
    >>> resample(x, 500, 250)
    array([[0., 2., 4., 6., 8.]], dtype=float32)
    >>> resample(x, 100, 250).shape
    (1, 25)
    """
    x = np.asarray(x)
    ratio = _ratio(fs, target_fs)  # output samples per input sample
    n = x.shape[-1]
    if ratio == 1:
        return x.astype(np.float32)
    if ratio.numerator == 1:  # integer downsampling: the spline's knots are the output
        return np.ascontiguousarray(x[..., :: ratio.denominator], dtype=np.float32)
    m = output_length(n, fs, target_fs)
    if n < 2:
        return np.repeat(x[..., :1], m, axis=-1).astype(np.float32)
    k = 3 if n >= 4 else n - 1  # CubicSpline needs 4 points for not-a-knot; lower the order below
    t_in = np.arange(n, dtype=np.float64)
    t_out = np.arange(m, dtype=np.float64) / float(ratio)  # output instants, in input samples
    if k == 3:
        y = CubicSpline(t_in, x.astype(np.float64, copy=False), axis=-1)(t_out)
    else:
        from scipy.interpolate import make_interp_spline

        y = make_interp_spline(t_in, x.astype(np.float64, copy=False), k=k, axis=-1)(t_out)
    return y.astype(np.float32)


def _ratio(fs: float, target_fs: float) -> Fraction:
    for name, v in (("fs", fs), ("target_fs", target_fs)):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float, np.integer, np.floating))
            or not (np.isfinite(v) and v > 0)
        ):
            raise ConfigError(f"{name} must be a positive number of Hz, got {v!r}")
    # Rates such as 500.0 or 257.142857... become exact small fractions.
    return (Fraction(float(target_fs)).limit_denominator(10**6)) / Fraction(float(fs)).limit_denominator(
        10**6
    )
