"""Findings confined in time for the synthetic ECG generator: one ectopic beat, paroxysmal AF.

Helpers of :mod:`ecgbyte.signal.synth` (kept apart so that module stays readable). Everything here
draws from the generator's *side* stream (``np.random.default_rng((seed, 1))``), never from the main
one, so switching findings on leaves every ECG without a finding bit-identical to the ECG the same
seed gave before, and the default config (no findings) reproduces the old outputs exactly.

- **Premature ventricular complex** (:func:`place_ectopic`, :func:`ectopic_waves`): the sinus beat
  nearest a target time is replaced by a beat that comes 30-45% early, has no P wave, a wide
  (130-170 ms) QRS with its own axis and a discordant T wave; the next sinus beat keeps its time,
  so the pause after the ectopic beat is compensatory (the two intervals around it sum to two
  sinus intervals).
- **Paroxysmal atrial fibrillation** (:func:`splice_af`): sinus beats (with P waves) until an onset
  time, then irregular beats; the fibrillatory waves are switched on at the onset
  (:func:`onset_ramp`).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gauss_train(centers_s: np.ndarray, amps: np.ndarray, sigma_s: float, fs: float, n: int) -> np.ndarray:
    """Sum of Gaussians ``amps[i] * exp(-(t - centers[i])^2 / 2 sigma^2)`` sampled on ``n`` points."""
    half = int(np.ceil(4.0 * sigma_s * fs))
    c = centers_s * fs
    idx = np.rint(c).astype(np.int64)[:, None] + np.arange(-half, half + 1)
    vals = amps[:, None] * np.exp(-0.5 * ((idx - c[:, None]) / (sigma_s * fs)) ** 2)
    keep = (idx >= 0) & (idx < n)
    return np.bincount(idx[keep], weights=vals[keep], minlength=n)


def finding_window(window_s: tuple[float, float], duration_s: float) -> tuple[float, float]:
    """The window a finding's time is drawn from, kept inside the record.

    ``window_s`` clipped to ``[0.5, duration_s - 0.5]``; a window that falls outside a short record
    becomes its middle 10-90%.

    >>> finding_window((1.0, 9.0), 10.0), finding_window((1.0, 9.0), 4.0), finding_window((5.0, 9.0), 4.0)
    ((1.0, 9.0), (1.0, 3.5), (0.4, 3.6))
    """
    lo, hi = max(window_s[0], 0.5), min(window_s[1], duration_s - 0.5)
    if lo >= hi:
        return (round(0.1 * duration_s, 6), round(0.9 * duration_s, 6))
    return (lo, hi)


def place_ectopic(
    side: np.random.Generator, t_r: np.ndarray, target_s: float, duration_s: float
) -> tuple[np.ndarray, float] | None:
    """Replace the beat nearest ``target_s`` by a premature one.

    Returns the remaining beat times and the ectopic R time, or None when no beat of the record
    can host one (a record shorter than two beats).
    """
    c = side.uniform(0.55, 0.7)  # coupling interval as a fraction of the replaced RR
    k = np.arange(1, t_r.size - 1)
    t_e = t_r[k - 1] + c * (t_r[k] - t_r[k - 1])
    ok = (t_e >= 0.2) & (t_e <= duration_s - 0.3) & (t_e - t_r[k - 1] >= 0.28)
    if not ok.any():
        ok = (t_e >= 0.0) & (t_e < duration_s)
        if not ok.any():
            return None
    j = int(np.argmin(np.where(ok, np.abs(t_e - target_s), np.inf)))
    return np.delete(t_r, k[j]), float(t_e[j])


def ectopic_waves(
    side: np.random.Generator, t_e: float, pat: dict[str, Any], fs: float, n: int
) -> np.ndarray:
    """Dipole ``[3, n]`` of one premature ventricular complex with its R peak at ``t_e`` seconds."""
    r_dir = pat["dirs"][2]
    direction = -r_dir + side.normal(0.0, 0.4, size=3)
    direction = direction / np.linalg.norm(direction)
    amp = float(pat["amps"][2]) * side.uniform(1.3, 1.8)
    s1, lag = side.uniform(0.022, 0.03), side.uniform(0.04, 0.055)
    at = np.array([t_e])
    wave = gauss_train(at, np.array([amp]), s1, fs, n)
    wave += gauss_train(at + lag, np.array([-0.35 * amp]), 0.02, fs, n)
    wave += gauss_train(at + side.uniform(0.3, 0.36), np.array([-0.3 * amp]), 0.07, fs, n)
    return np.outer(direction, wave)


def splice_af(
    side: np.random.Generator,
    t_sinus: np.ndarray,
    t_af: np.ndarray,
    onset_s: float,
    mean_rr: float,
    duration_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sinus beats before ``onset_s``, then the irregular RR intervals of ``t_af``.

    Returns beat times and a mask of the beats that have a P wave (the sinus ones). The first
    fibrillation beat falls after the onset, so every RR interval that ends before the onset is sinus.
    """
    before = t_sinus[t_sinus < onset_s]
    last = float(before[-1])
    first = max(onset_s, last + 0.35 * mean_rr) + side.uniform(0.1, 0.6) * mean_rr
    after = first + np.concatenate([[0.0], np.cumsum(np.diff(t_af))])
    after = after[after < duration_s + 1.5]
    beats = np.concatenate([before, after])
    return beats, np.concatenate([np.ones(before.size, bool), np.zeros(after.size, bool)])


def onset_ramp(t: np.ndarray, onset_s: float) -> np.ndarray:
    """0 before ``onset_s``, rising to 1 over 0.2 s (fibrillatory waves switching on)."""
    return np.clip((t - onset_s) / 0.2, 0.0, 1.0)
