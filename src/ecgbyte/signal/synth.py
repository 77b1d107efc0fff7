"""Seeded synthetic 12-lead ECGs with labels that can only be read off the signal.

The embedded default data of ``ecgbyte``: the demo and the end-to-end tests of later
stages run on it, with no download. Unlike the stage modules beside it (filters,
resample...), which transform signals, this module *makes* them.

Model (our own, in the spirit of McSharry's ECGSYN but in 3-D): each heartbeat is a
sum of Gaussian P, Q, R, S and T waves of a cardiac dipole ``d(t)`` (x to the left,
y inferior, z anterior). The dipole is projected onto nine electrodes (RA, LA, LL,
V1..V6), noise and baseline wander are added *per electrode*, and the 12 leads are
formed from the electrodes exactly as an electrocardiograph does::

    I = LA - RA      II = LL - RA      III = LL - LA
    aVR = RA - (LA + LL)/2   aVL = LA - (RA + LL)/2   aVF = LL - (RA + LA)/2
    Vi = Ei - (RA + LA + LL)/3          (Wilson central terminal)

so Einthoven's law (III = II - I) and Goldberger's relations hold exactly, noise
included (up to float32 rounding). Sinus rhythm has P waves and a small respiratory
RR modulation; atrial fibrillation has no P waves, irregular RR intervals
(log-normal) and a 4-9 Hz fibrillatory baseline. Several ECGs are drawn per synthetic
patient, who keeps one morphology (electrical axis, amplitudes, widths, PR, QT,
bundle-branch-like wide QRS), so patient-level splits mean something.

Every ECG carries ``meta["labels"]``: ``heart_rate_bpm`` (measured from the R peaks
actually placed in the record), ``rate_class`` (bradycardia < 60 <= normal <= 100 <
tachycardia), ``rhythm`` (``"sinus"`` / ``"atrial fibrillation"``), ``rr_cv``,
``n_beats``, ``noise`` (``low``/``medium``/``high``) and ``noise_std_mv``,
``baseline_wander`` and ``baseline_wander_mv``, ``qrs_duration_ms`` and ``wide_qrs``
(>= 120 ms), ``st_deviation`` (``none``/``elevation``/``depression``) and
``st_deviation_mv`` (in lead II), and the findings confined in time (off by default, see
``SynthConfig.p_ectopic`` / ``p_paroxysmal_af`` and :mod:`ecgbyte.signal.synth_findings`):
``ectopic_beat`` (one premature ventricular complex) with ``ectopic_beat_s`` (its R-peak time in s,
else None), ``paroxysmal_af`` (AF starting mid-strip; ``rhythm`` is then ``"atrial fibrillation"``)
with ``af_onset_s`` (else None). ``meta["synth"]["r_peak_s"]`` holds the R-peak times in seconds,
ectopic beat included (valid after resampling).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ecgbyte.ecg import STANDARD_LEADS, Ecg
from ecgbyte.errors import ConfigError
from ecgbyte.signal import synth_findings as _fx
from ecgbyte.signal.synth_findings import gauss_train as _gauss_train

RATE_CLASSES: tuple[str, ...] = ("bradycardia", "normal", "tachycardia")
RHYTHMS: tuple[str, ...] = ("sinus", "atrial fibrillation")
NOISE_LEVELS: tuple[str, ...] = ("low", "medium", "high")
ST_CLASSES: tuple[str, ...] = ("none", "elevation", "depression")
WIDE_QRS_MS = 120.0


def rate_class(heart_rate_bpm: float) -> str:
    """Name the rate class of a heart rate in beats per minute.

    >>> rate_class(45.0), rate_class(60.0), rate_class(100.0), rate_class(101.0)
    ('bradycardia', 'normal', 'normal', 'tachycardia')
    """
    if heart_rate_bpm < 60.0:
        return "bradycardia"
    return "tachycardia" if heart_rate_bpm > 100.0 else "normal"


@dataclass(frozen=True)
class SynthConfig:
    """Label balance and ranges of the synthetic ECG generator.

    Probabilities with ``exact_balance=True`` become exact proportions of the ``n``
    ECGs (largest remainder), shuffled; otherwise each ECG draws independently.
    """

    p_af: float = 0.3  # fraction of ECGs in atrial fibrillation
    rate_class_probs: tuple[float, float, float] = (0.25, 0.5, 0.25)  # brady, normal, tachy
    # target heart-rate ranges per class (bpm), kept away from the 60/100 boundaries
    hr_ranges_bpm: tuple[tuple[float, float], ...] = ((40.0, 52.0), (65.0, 90.0), (112.0, 150.0))
    noise_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)  # low, medium, high
    noise_std_mv: tuple[float, float, float] = (0.005, 0.02, 0.05)  # white noise per electrode, mV
    p_baseline_wander: float = 0.3
    wander_mv: tuple[float, float] = (0.15, 0.5)  # baseline wander amplitude range, mV
    p_wide_qrs: float = 0.15  # per patient
    st_probs: tuple[float, float, float] = (0.8, 0.1, 0.1)  # none, elevation, depression
    st_mv: tuple[float, float] = (0.15, 0.3)  # |ST shift| in lead II, mV
    ecgs_per_patient: tuple[int, int] = (1, 3)  # inclusive range
    exact_balance: bool = True
    # findings confined in time (drawn from a side stream: 0 keeps every old output bit-identical)
    p_ectopic: float = 0.0  # fraction of ECGs with one premature ventricular complex
    ectopic_window_s: tuple[float, float] = (1.0, 9.0)  # its target time, uniform (s)
    p_paroxysmal_af: float = 0.0  # fraction of the AF ECGs whose AF starts mid-strip
    af_onset_window_s: tuple[float, float] = (1.0, 9.0)  # AF onset, uniform (s)

    def __post_init__(self) -> None:
        for name in ("p_af", "p_baseline_wander", "p_wide_qrs", "p_ectopic", "p_paroxysmal_af"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"SynthConfig.{name} must be a probability in [0, 1], got {value!r}")
        for name, k in (("rate_class_probs", 3), ("noise_probs", 3), ("st_probs", 3)):
            probs = np.asarray(getattr(self, name), dtype=float)
            if probs.shape != (k,) or np.any(probs < 0) or not np.isclose(probs.sum(), 1.0):
                raise ConfigError(
                    f"SynthConfig.{name} must be {k} non-negative numbers summing to 1, got {probs}"
                )
        if len(self.hr_ranges_bpm) != 3 or any(not 20 <= lo <= hi <= 250 for lo, hi in self.hr_ranges_bpm):
            raise ConfigError(
                f"SynthConfig.hr_ranges_bpm must be 3 (low, high) pairs in 20..250 bpm, got {self.hr_ranges_bpm}"
            )
        for name in ("ectopic_window_s", "af_onset_window_s"):
            window = getattr(self, name)
            if len(window) != 2 or not 0.0 <= window[0] < window[1]:
                raise ConfigError(
                    f"SynthConfig.{name} must be (start, end) seconds with 0 <= start < end, got {window}"
                )
        lo, hi = self.ecgs_per_patient
        if not 1 <= lo <= hi:
            raise ConfigError(
                f"SynthConfig.ecgs_per_patient must be (min, max) with 1 <= min <= max, got {self.ecgs_per_patient}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Inverse of :meth:`to_dict`; an unknown key raises :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown SynthConfig key(s) {unknown}; known keys: {sorted(known)}")
        conv = {k: _tupled(v) for k, v in data.items()}
        return cls(**conv)


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------
# Geometry: dipole axes x = left, y = inferior, z = anterior. Electrode lead vectors.
# ---------------------------------------------------------------------------------------------
_R3 = 1.0 / math.sqrt(3.0)
_LIMB = np.array([[-0.866 * _R3, -0.5 * _R3, 0.0], [0.866 * _R3, -0.5 * _R3, 0.0], [0.0, _R3, 0.0]])
_V_ANGLES_DEG = np.array([115.0, 95.0, 75.0, 55.0, 30.0, 5.0])  # from left towards anterior
_V_GAINS = np.array([1.0, 1.5, 1.6, 1.5, 1.3, 1.0])  # chest electrodes sit closer to the heart
_PRECORDIAL = _V_GAINS[:, None] * np.stack(
    [np.cos(np.radians(_V_ANGLES_DEG)), np.zeros(6), np.sin(np.radians(_V_ANGLES_DEG))], axis=1
)
_ELECTRODES = np.vstack([_LIMB, _PRECORDIAL])  # [9, 3]: RA, LA, LL, V1..V6


def _lead_matrix() -> np.ndarray:
    """[12, 9] map from electrode potentials to the standard leads."""
    m = np.zeros((12, 9))
    ra, la, ll = 0, 1, 2
    m[0, [la, ra]] = 1, -1  # I
    m[1, [ll, ra]] = 1, -1  # II
    m[2, [ll, la]] = 1, -1  # III
    m[3, [ra, la, ll]] = 1, -0.5, -0.5  # aVR
    m[4, [la, ra, ll]] = 1, -0.5, -0.5  # aVL
    m[5, [ll, ra, la]] = 1, -0.5, -0.5  # aVF
    for i in range(6):
        m[6 + i, 3 + i] = 1.0
        m[6 + i, [ra, la, ll]] = -1.0 / 3.0
    return m


_LEADS_FROM_ELECTRODES = _lead_matrix()
_LEAD_II = _LEADS_FROM_ELECTRODES[1] @ _ELECTRODES  # lead vector of II, unit length

# Base wave table: direction (x, y, z), amplitude (mV), time from R (s), width sigma (s).
_WAVES = ("P", "Q", "R", "S", "T")
_DIRS = np.array(
    [[0.5, 0.8, 0.1], [-0.6, 0.1, 0.6], [0.65, 0.7, -0.15], [-0.35, -0.3, -0.85], [0.6, 0.55, 0.35]]
)
_DIRS = _DIRS / np.linalg.norm(_DIRS, axis=1, keepdims=True)
_AMPS = np.array([0.15, 0.12, 1.3, 0.45, 0.35])
_QRS_T = np.array([-0.025, 0.0, 0.025])  # Q, R, S times (s)
_QRS_SIGMA = np.array([0.008, 0.010, 0.009])
_ATRIAL_DIR = np.array([-0.2, 0.6, 0.75]) / np.linalg.norm([-0.2, 0.6, 0.75])


def _rotation(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Patient rotation: frontal axis shift (about z) and transition-zone shift (about y)."""
    a = np.radians(rng.uniform(-35.0, 35.0))
    b = np.radians(rng.uniform(-15.0, 15.0))
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[np.cos(b), 0.0, np.sin(b)], [0.0, 1.0, 0.0], [-np.sin(b), 0.0, np.cos(b)]])
    return ry @ rz, float(np.degrees(a))


def _patient(rng: np.random.Generator, wide: bool) -> dict[str, Any]:
    """Draw one patient's morphology."""
    rot, _ = _rotation(rng)
    dirs = _DIRS @ rot.T
    amps = _AMPS * np.exp(rng.normal(0.0, 0.2, size=5))
    proj = np.abs(dirs @ _LEAD_II) * amps  # keep R the tallest wave of lead II (T <= 0.35 R)
    amps[4] *= min(1.0, 0.35 * proj[2] / max(proj[4], 1e-9))
    width = rng.uniform(0.9, 1.15)
    qrs_t, qrs_sigma = _QRS_T * width, _QRS_SIGMA * width
    base_ms = 1000.0 * ((qrs_t[2] + 2 * qrs_sigma[2]) - (qrs_t[0] - 2 * qrs_sigma[0]))
    if wide:  # bundle-branch-like: slower, wider depolarisation
        stretch = rng.uniform(130.0, 170.0) / base_ms
        qrs_t, qrs_sigma = qrs_t * stretch, qrs_sigma * stretch
        amps[3] *= 1.4
    qrs_ms = 1000.0 * ((qrs_t[2] + 2 * qrs_sigma[2]) - (qrs_t[0] - 2 * qrs_sigma[0]))
    return {
        "dirs": dirs,
        "amps": amps,
        "qrs_t": qrs_t,
        "qrs_sigma": qrs_sigma,
        "qrs_ms": float(qrs_ms),
        "pr_s": rng.uniform(0.14, 0.20),
        "p_sigma": rng.uniform(0.018, 0.026),
        "qt_s": rng.uniform(0.25, 0.29),  # R to T peak at RR = 1 s (scaled by sqrt(RR))
        "t_sigma": rng.uniform(0.038, 0.05),
    }


def _balanced(rng: np.random.Generator, n: int, probs: Any, exact: bool) -> np.ndarray:
    """Category index per item: exact proportions (shuffled) or independent draws."""
    p = np.asarray(probs, dtype=float)
    if not exact:
        return rng.choice(len(p), size=n, p=p)
    raw = p * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(p)), counts))


def _beat_times(rng: np.random.Generator, duration_s: float, mean_rr: float, af: bool) -> np.ndarray:
    """R-peak times (s) covering [-pad, duration + pad]."""
    pad = 1.5
    n = int(np.ceil((duration_s + 2 * pad) / (0.3 * mean_rr))) + 2
    if af:
        sigma = rng.uniform(0.15, 0.28)
        rr = mean_rr * np.exp(rng.normal(-0.5 * sigma**2, sigma, size=n))
        rr = np.clip(rr, max(0.25, 0.35 * mean_rr), 2.5 * mean_rr)
    else:  # respiratory sinus arrhythmia plus a little jitter
        t_nom = mean_rr * np.arange(n)
        rsa = rng.uniform(0.01, 0.04) * np.sin(
            2 * np.pi * rng.uniform(0.15, 0.35) * t_nom + rng.uniform(0, 2 * np.pi)
        )
        rr = mean_rr * (1.0 + rsa + rng.normal(0.0, 0.01, size=n))
    t = -pad - rng.uniform(0.0, mean_rr) + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    return t[t < duration_s + pad]


def _one(
    rng: np.random.Generator,
    pat: dict[str, Any],
    fs: float,
    duration_s: float,
    hr: float,
    af: bool,
    noise_std: float,
    wander_mv: float,
    st_mv: float,
    side: np.random.Generator | None = None,
    ectopic_target_s: float | None = None,
    af_onset_s: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One ECG: float32 [12, samples] in mV plus its measured labels.

    ``ectopic_target_s`` / ``af_onset_s`` (with the side stream ``side``) add one premature
    ventricular complex near that time / make the AF start there; the main stream ``rng`` is
    consumed exactly as without them.
    """
    n = round(duration_s * fs)
    mean_rr = 60.0 / hr
    t_r = _beat_times(rng, duration_s, mean_rr, af)
    jitter = np.exp(rng.normal(0.0, 0.05, size=(5, t_r.size)))  # beat-to-beat amplitude jitter
    has_p = np.full(t_r.size, not af)
    t_e: float | None = None
    if side is not None and af and af_onset_s is not None:
        t_sinus = _beat_times(side, duration_s, mean_rr, False)
        t_r, has_p = _fx.splice_af(side, t_sinus, t_r, af_onset_s, mean_rr, duration_s)
    if side is not None and ectopic_target_s is not None:
        placed = _fx.place_ectopic(side, t_r, ectopic_target_s, duration_s)
        if placed is not None:
            kept, t_e = placed
            has_p = has_p[np.isin(t_r, kept)]
            t_r = kept
    if side is not None and jitter.shape[1] != t_r.size:
        jitter = np.exp(side.normal(0.0, 0.05, size=(5, t_r.size)))
    beats = np.sort(np.append(t_r, t_e)) if t_e is not None else t_r
    rr_all = np.clip(np.diff(beats, prepend=beats[0] - mean_rr), 0.25, 2.0)
    rr_prev = rr_all if t_e is None else rr_all[beats != t_e]
    amps, dirs = pat["amps"][:, None] * jitter, pat["dirs"]
    dipole = np.zeros((3, n))
    if has_p.any():
        p_train = _gauss_train(t_r[has_p] - pat["pr_s"], amps[0][has_p], pat["p_sigma"], fs, n)
        dipole += np.outer(dirs[0], p_train)
    for k in range(3):  # Q, R, S
        wave = _gauss_train(t_r + pat["qrs_t"][k], amps[k + 1], pat["qrs_sigma"][k], fs, n)
        dipole += np.outer(dirs[k + 1], wave)
    t_peak = t_r + pat["qt_s"] * np.sqrt(rr_prev)
    dipole += np.outer(dirs[4], _gauss_train(t_peak, amps[4], pat["t_sigma"], fs, n))
    if t_e is not None:
        assert side is not None
        dipole += _fx.ectopic_waves(side, t_e, pat, fs, n)
    if st_mv:
        j_point = t_r + pat["qrs_t"][2] + 2 * pat["qrs_sigma"][2]
        centre = 0.5 * (j_point + t_peak)
        st = _gauss_train(centre, np.full(t_r.size, st_mv), 0.4 * float(np.median(t_peak - j_point)), fs, n)
        dipole += np.outer(_LEAD_II, st)
    t = np.arange(n) / fs
    if af:  # fibrillatory waves: two drifting 4-9 Hz components
        f_wave = np.zeros(n)
        for _ in range(2):
            f0, fm = rng.uniform(4.0, 9.0), rng.uniform(0.1, 0.5)
            phase = 2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi) + 0.8 * np.sin(2 * np.pi * fm * t)
            f_wave += rng.uniform(0.02, 0.06) * np.sin(phase)
        if af_onset_s is not None and side is not None:
            f_wave *= _fx.onset_ramp(t, af_onset_s)
        dipole += np.outer(_ATRIAL_DIR, f_wave)
    electrodes = _ELECTRODES @ dipole + rng.normal(0.0, noise_std, size=(9, n))
    if wander_mv:
        f_resp = rng.uniform(0.12, 0.4)
        amp = wander_mv * rng.uniform(0.5, 1.0, size=(9, 1))
        electrodes += amp * np.sin(2 * np.pi * f_resp * t + rng.uniform(0, 2 * np.pi, size=(9, 1)))
        electrodes += 0.5 * amp * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi, size=(9, 1)))
    signal = (_LEADS_FROM_ELECTRODES @ electrodes).astype(np.float32)
    inside = beats[(beats >= 0) & (beats < duration_s)]
    rr = np.diff(inside) if inside.size >= 2 else np.diff(beats)
    hr_meas = 60.0 / float(rr.mean())
    labels = {
        "heart_rate_bpm": round(hr_meas, 1),
        "rate_class": rate_class(round(hr_meas, 1)),
        "rhythm": RHYTHMS[int(af)],
        "rr_cv": round(float(rr.std() / rr.mean()), 4),
        "n_beats": int(inside.size),
        "ectopic_beat": t_e is not None,
        "ectopic_beat_s": None if t_e is None else round(t_e, 3),
        "paroxysmal_af": bool(af and af_onset_s is not None and side is not None),
        "af_onset_s": round(af_onset_s, 3) if af and af_onset_s is not None and side is not None else None,
    }
    return signal, {"labels": labels, "r_peak_s": [round(float(x), 4) for x in inside]}


def synthesize(
    n: int, *, seed: int, fs: float = 500.0, duration_s: float = 10.0, config: SynthConfig | None = None
) -> list[Ecg]:
    """Generate ``n`` labelled synthetic 12-lead ECGs.

    Parameters
    ----------
    n : number of ECGs (>= 0).
    seed : seed of ``np.random.default_rng``; the same seed, ``n``, ``fs``,
        ``duration_s`` and config give identical arrays and labels.
    fs : sampling rate in Hz (>= 50).
    duration_s : length of each ECG in seconds (>= 1).
    config : label balance and ranges, :class:`SynthConfig` defaults if None.

    Returns
    -------
    list of :class:`~ecgbyte.ecg.Ecg`, each float32 ``[12, round(duration_s * fs)]`` in mV
    in the standard lead order, with ``record_id`` ``"synth-s{seed}-{i:06d}"``,
    ``patient_id`` ``"synth-s{seed}-p{j:05d}"``, ``source="synthetic"`` and
    ``meta["labels"]`` (see the module docstring).

    Examples
    --------
    >>> ecgs = synthesize(4, seed=0)
    >>> ecgs[0].signal.shape, ecgs[0].fs, ecgs[0].leads[:3]
    ((12, 5000), 500.0, ('I', 'II', 'III'))
    >>> sorted(ecgs[0].meta["labels"])[:4]
    ['af_onset_s', 'baseline_wander', 'baseline_wander_mv', 'ectopic_beat']
    >>> import numpy as np
    >>> bool(np.array_equal(synthesize(2, seed=7)[1].signal, synthesize(2, seed=7)[1].signal))
    True
    """
    cfg = config or SynthConfig()
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"n must be a non-negative integer number of ECGs, got {n!r}")
    if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs >= 50):
        raise ConfigError(f"fs must be a sampling rate >= 50 Hz, got {fs!r}")
    if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s) and duration_s >= 1.0):
        raise ConfigError(f"duration_s must be >= 1 second, got {duration_s!r}")
    rng = np.random.default_rng(seed)
    ex = cfg.exact_balance
    af = _balanced(rng, n, [1 - cfg.p_af, cfg.p_af], ex)
    rate_idx = _balanced(rng, n, cfg.rate_class_probs, ex)
    noise_idx = _balanced(rng, n, cfg.noise_probs, ex)
    wander = _balanced(rng, n, [1 - cfg.p_baseline_wander, cfg.p_baseline_wander], ex)
    st_idx = _balanced(rng, n, cfg.st_probs, ex)
    side = np.random.default_rng((seed, 1))  # findings confined in time: never touches ``rng``
    ectopic = _balanced(side, n, [1 - cfg.p_ectopic, cfg.p_ectopic], ex)
    paroxysmal = np.zeros(n, dtype=bool)
    af_rows = np.flatnonzero(af)
    paroxysmal[af_rows] = (
        _balanced(side, af_rows.size, [1 - cfg.p_paroxysmal_af, cfg.p_paroxysmal_af], ex) == 1
    )
    ectopic_window = _fx.finding_window(cfg.ectopic_window_s, float(duration_s))
    onset_window = _fx.finding_window(cfg.af_onset_window_s, float(duration_s))
    lo, hi = cfg.ecgs_per_patient
    out: list[Ecg] = []
    pid, left, pat = -1, 0, None
    for i in range(n):
        if left == 0:
            pid, left = pid + 1, int(rng.integers(lo, hi + 1))
            pat = _patient(rng, bool(rng.random() < cfg.p_wide_qrs))
        left -= 1
        hr = rng.uniform(*cfg.hr_ranges_bpm[rate_idx[i]])
        wander_mv = float(rng.uniform(*cfg.wander_mv)) if wander[i] else 0.0
        st_sign = (0.0, 1.0, -1.0)[st_idx[i]]
        st_mv = st_sign * float(rng.uniform(*cfg.st_mv))
        noise_std = cfg.noise_std_mv[noise_idx[i]]
        target = float(side.uniform(*ectopic_window)) if ectopic[i] else None
        onset = float(side.uniform(*onset_window)) if paroxysmal[i] else None
        signal, info = _one(
            rng,
            pat,
            float(fs),
            float(duration_s),
            hr,
            bool(af[i]),
            noise_std,
            wander_mv,
            st_mv,
            side=side,
            ectopic_target_s=target,
            af_onset_s=onset,
        )
        labels = info["labels"]
        labels.update(
            noise=NOISE_LEVELS[noise_idx[i]],
            noise_std_mv=float(noise_std),
            baseline_wander=bool(wander[i]),
            baseline_wander_mv=round(wander_mv, 3),
            qrs_duration_ms=round(pat["qrs_ms"], 1),
            wide_qrs=bool(pat["qrs_ms"] >= WIDE_QRS_MS),
            st_deviation=ST_CLASSES[st_idx[i]],
            st_deviation_mv=round(st_mv, 3),
        )
        out.append(
            Ecg(
                signal,
                float(fs),
                STANDARD_LEADS,
                record_id=f"synth-s{seed}-{i:06d}",
                patient_id=f"synth-s{seed}-p{pid:05d}",
                source="synthetic",
                meta={"labels": labels, "synth": {"seed": seed, "r_peak_s": info["r_peak_s"]}},
            )
        )
    return out
