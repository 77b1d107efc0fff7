"""Synthetic ECG generator: determinism, lead algebra, realistic amplitudes, labels read off the signal."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from scipy.signal import butter, find_peaks, sosfiltfilt

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError
from ecgbyte.signal.synth import SynthConfig, rate_class, synthesize

FS = 500.0


@pytest.fixture(scope="module")
def ecgs():
    return synthesize(120, seed=3)


def _lead(ecg, name):
    return ecg.signal[STANDARD_LEADS.index(name)].astype(np.float64)


def _r_peaks(ecg):
    """Independent R-peak detector: 8-30 Hz band (QRS energy) on lead II, then find_peaks."""
    sos = butter(2, [8.0, 30.0], "bandpass", fs=ecg.fs, output="sos")
    env = np.abs(sosfiltfilt(sos, _lead(ecg, "II")))
    peaks, _ = find_peaks(env, height=0.4 * np.percentile(env, 99.5), distance=int(0.2 * ecg.fs))
    return peaks


def test_shapes_ids_and_dtype(ecgs):
    assert len(ecgs) == 120
    for e in ecgs:
        assert e.signal.shape == (12, 5000) and e.signal.dtype == np.float32
        assert e.fs == FS and e.leads == STANDARD_LEADS and e.source == "synthetic"
    assert len({e.record_id for e in ecgs}) == 120
    assert ecgs[0].record_id == "synth-s3-000000"


def test_same_seed_same_arrays_other_seed_differs():
    a, b, c = synthesize(5, seed=11), synthesize(5, seed=11), synthesize(5, seed=12)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.signal, y.signal)
        assert x.meta == y.meta and x.patient_id == y.patient_id
    assert not np.array_equal(a[0].signal, c[0].signal)


def test_einthoven_and_goldberger_hold(ecgs):
    for e in ecgs[:30]:
        i, ii, iii = _lead(e, "I"), _lead(e, "II"), _lead(e, "III")
        np.testing.assert_allclose(iii, ii - i, atol=2e-6)
        np.testing.assert_allclose(_lead(e, "aVR"), -(i + ii) / 2, atol=2e-6)
        np.testing.assert_allclose(_lead(e, "aVL"), i - ii / 2, atol=2e-6)
        np.testing.assert_allclose(_lead(e, "aVF"), ii - i / 2, atol=2e-6)


def test_amplitudes_in_realistic_mv_range(ecgs):
    r_amp = []
    for e in ecgs:
        assert np.all(np.isfinite(e.signal))
        assert np.abs(e.signal).max() < 5.0  # no lead beyond 5 mV
        peaks = _r_peaks(e)
        ii = _lead(e, "II") - np.median(_lead(e, "II"))
        r_amp.append(np.median(ii[peaks]))
    r_amp = np.array(r_amp)
    assert np.all((r_amp > 0.3) & (r_amp < 3.0)), r_amp.min()
    assert 0.7 < np.median(r_amp) < 1.8


def test_heart_rate_label_matches_detected_r_peaks(ecgs):
    errors, agree = [], 0
    for e in ecgs:
        lab = e.meta["labels"]
        peaks = _r_peaks(e)
        hr = 60.0 * e.fs / np.mean(np.diff(peaks))
        errors.append(abs(hr - lab["heart_rate_bpm"]) / lab["heart_rate_bpm"])
        agree += rate_class(hr) == lab["rate_class"]
        assert lab["rate_class"] == rate_class(lab["heart_rate_bpm"])
        assert abs(len(peaks) - lab["n_beats"]) <= 1
    assert np.median(errors) < 0.01 and max(errors) < 0.08
    assert agree >= 0.97 * len(ecgs)


def test_af_rr_irregularity_higher_than_sinus(ecgs):
    cv = {"sinus": [], "atrial fibrillation": []}
    for e in ecgs:
        rr = np.diff(_r_peaks(e))
        cv[e.meta["labels"]["rhythm"]].append(rr.std() / rr.mean())
    assert len(cv["atrial fibrillation"]) == 36  # exact balance: 0.3 * 120
    assert np.median(cv["atrial fibrillation"]) > 3 * np.median(cv["sinus"])
    assert max(cv["sinus"]) < min(cv["atrial fibrillation"]) + 0.05


def test_labels_balanced_exactly_and_patients_repeat(ecgs):
    labels = [e.meta["labels"] for e in ecgs]
    assert Counter(x["rate_class"] for x in labels) == {"normal": 60, "bradycardia": 30, "tachycardia": 30}
    assert Counter(x["noise"] for x in labels) == {"low": 60, "medium": 36, "high": 24}
    assert sum(x["baseline_wander"] for x in labels) == 36
    patients = Counter(e.patient_id for e in ecgs)
    assert max(patients.values()) <= 3 and len(patients) < 120
    for e in ecgs:  # one morphology per patient: QRS duration is a patient trait
        same = [x for x in ecgs if x.patient_id == e.patient_id]
        assert len({x.meta["labels"]["qrs_duration_ms"] for x in same}) == 1
    for x in labels:
        assert x["wide_qrs"] == (x["qrs_duration_ms"] >= 120)


def test_label_balance_controllable():
    cfg = SynthConfig(
        p_af=1.0, rate_class_probs=(0.0, 0.0, 1.0), noise_probs=(1.0, 0.0, 0.0), p_baseline_wander=0.0
    )
    out = synthesize(6, seed=0, config=cfg)
    assert all(e.meta["labels"]["rhythm"] == "atrial fibrillation" for e in out)
    assert all(e.meta["labels"]["rate_class"] == "tachycardia" for e in out)
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg


def test_wander_and_noise_visible_in_signal():
    base = SynthConfig(p_af=0.0, noise_probs=(1.0, 0.0, 0.0), p_baseline_wander=0.0, st_probs=(1.0, 0.0, 0.0))
    clean = synthesize(4, seed=5, config=base)
    noisy = synthesize(4, seed=5, config=SynthConfig(**{**base.to_dict(), "noise_probs": (0.0, 0.0, 1.0)}))
    wander = synthesize(4, seed=5, config=SynthConfig(**{**base.to_dict(), "p_baseline_wander": 1.0}))
    hf = butter(4, 100.0, "highpass", fs=FS, output="sos")
    lf = butter(2, 0.5, "lowpass", fs=FS, output="sos")
    for c, n, w in zip(clean, noisy, wander):
        assert np.std(sosfiltfilt(hf, _lead(n, "II"))) > 4 * np.std(sosfiltfilt(hf, _lead(c, "II")))
        assert np.std(sosfiltfilt(lf, _lead(w, "V2"))) > 2 * np.std(sosfiltfilt(lf, _lead(c, "V2")))


def test_other_rates_and_durations():
    (e,) = synthesize(1, seed=1, fs=250.0, duration_s=2.5)
    assert e.signal.shape == (12, 625) and e.fs == 250.0
    assert synthesize(0, seed=1) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"n": -1}, {"n": 2.5}, {"n": 1, "fs": 10.0}, {"n": 1, "duration_s": 0.2}, {"n": 1, "fs": float("nan")}],
)
def test_bad_arguments_raise_config_error(kwargs):
    n = kwargs.pop("n")
    with pytest.raises(ConfigError):
        synthesize(n, seed=0, **kwargs)


@pytest.mark.parametrize(
    "bad",
    [
        {"p_af": 1.5},
        {"rate_class_probs": (0.5, 0.5, 0.5)},
        {"ecgs_per_patient": (0, 2)},
        {"hr_ranges_bpm": ((5, 10),)},
    ],
)
def test_bad_config_raises(bad):
    with pytest.raises(ConfigError):
        SynthConfig(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        SynthConfig.from_dict({"nope": 1})


def test_synth_imports_standalone_without_torch():
    code = "import sys, ecgbyte.signal.synth as s; s.synthesize(1, seed=0); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    import doctest

    import ecgbyte.signal.synth as mod

    result = doctest.testmod(mod)
    assert result.attempted >= 5 and result.failed == 0
