"""Findings confined in time (one ectopic beat, paroxysmal AF): where the labels say, read off the signal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, find_peaks, sosfiltfilt

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError
from ecgbyte.signal.synth import SynthConfig, synthesize

BALANCED = {"p_af": 0.5, "rate_class_probs": (1 / 3, 1 / 3, 1 / 3)}
FINDINGS = SynthConfig(**BALANCED, p_ectopic=0.5, p_paroxysmal_af=0.8)
INDEPENDENT = [STANDARD_LEADS.index(x) for x in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]


@pytest.fixture(scope="module")
def ecgs():
    return synthesize(80, seed=21, config=FINDINGS)


def _magnitude(ecg, band=(1.0, 40.0)):
    """Spatial magnitude: the 8 independent leads band-passed (1-40 Hz), root sum of squares."""
    sos = butter(2, band, "bandpass", fs=ecg.fs, output="sos")
    x = sosfiltfilt(sos, ecg.signal[INDEPENDENT].astype(np.float64), axis=1)
    return np.sqrt((x**2).sum(axis=0))


def _beats(ecg):
    """R-peak times (s) detected on the spatial magnitude (independent of the generator's beat list)."""
    mag = _magnitude(ecg, band=(5.0, 30.0))  # QRS energy; T and P waves are slower
    edge = int(0.1 * ecg.fs)  # filter transients
    peaks, _ = find_peaks(mag[edge:-edge], height=0.3 * np.percentile(mag, 99), distance=int(0.25 * ecg.fs))
    return (peaks + edge) / ecg.fs


def test_default_config_has_no_findings_and_labels_say_so():
    for e in synthesize(20, seed=4):
        lab = e.meta["labels"]
        assert lab["ectopic_beat"] is False and lab["ectopic_beat_s"] is None
        assert lab["paroxysmal_af"] is False and lab["af_onset_s"] is None


def test_ecgs_without_a_finding_are_bit_identical_to_the_default_generator():
    """Findings draw from a side stream: switching them on changes only the ECGs that get one."""
    plain = synthesize(40, seed=9, config=SynthConfig(**BALANCED))
    withf = synthesize(40, seed=9, config=SynthConfig(**BALANCED, p_ectopic=0.5, p_paroxysmal_af=0.8))
    untouched = 0
    for a, b in zip(plain, withf):
        lb = b.meta["labels"]
        if not lb["ectopic_beat"] and not lb["paroxysmal_af"]:
            np.testing.assert_array_equal(a.signal, b.signal)
            assert a.meta == b.meta and a.patient_id == b.patient_id
            untouched += 1
        else:
            assert not np.array_equal(a.signal, b.signal)
            assert a.meta["labels"]["rhythm"] == lb["rhythm"] and a.patient_id == b.patient_id
    assert untouched >= 8


def test_findings_balanced_exactly_and_mostly_past_3_s(ecgs):
    labels = [e.meta["labels"] for e in ecgs]
    assert sum(x["ectopic_beat"] for x in labels) == 40
    af = [x for x in labels if x["rhythm"] == "atrial fibrillation"]
    assert len(af) == 40 and sum(x["paroxysmal_af"] for x in af) == 32
    assert not any(x["paroxysmal_af"] for x in labels if x["rhythm"] == "sinus")
    times = [x["ectopic_beat_s"] for x in labels if x["ectopic_beat"]]
    onsets = [x["af_onset_s"] for x in labels if x["paroxysmal_af"]]
    assert all(0.2 <= t <= 9.7 for t in times) and all(1.0 <= t <= 9.0 for t in onsets)
    late = np.mean(np.array(times + onsets) >= 3.0)
    assert 0.6 <= late <= 0.9, late  # uniform over 1-9 s: 75% expected


def test_ectopic_beat_peaks_at_the_labelled_time_and_is_the_largest_complex(ecgs):
    checked, largest = 0, 0
    for e in ecgs:
        lab = e.meta["labels"]
        if not lab["ectopic_beat"]:
            continue
        mag = _magnitude(e)
        at = round(lab["ectopic_beat_s"] * e.fs)
        lo, hi = max(at - int(0.25 * e.fs), 0), min(at + int(0.25 * e.fs), mag.size)
        t_peak = (lo + np.argmax(mag[lo:hi])) / e.fs
        assert abs(t_peak - lab["ectopic_beat_s"]) <= 0.02, (e.record_id, t_peak, lab["ectopic_beat_s"])
        inner = slice(int(0.15 * e.fs), mag.size - int(0.15 * e.fs))  # away from filter edges
        largest += abs((np.argmax(mag[inner]) + inner.start) / e.fs - lab["ectopic_beat_s"]) <= 0.02
        assert np.min(np.abs(np.array(e.meta["synth"]["r_peak_s"]) - lab["ectopic_beat_s"])) < 1e-3
        checked += 1
    assert checked == 40 and largest >= 36  # the largest complex of the strip in (nearly) every ECG


def test_ectopic_beat_is_premature_with_a_compensatory_pause(ecgs):
    checked = 0
    for e in ecgs:
        lab = e.meta["labels"]
        if not lab["ectopic_beat"] or lab["rhythm"] != "sinus":
            continue
        beats = _beats(e)
        k = int(np.argmin(np.abs(beats - lab["ectopic_beat_s"])))
        if k == 0 or k == beats.size - 1:
            continue  # needs a beat on each side inside the strip
        rr = np.diff(beats)
        normal = np.median(rr)
        coupling, pause = beats[k] - beats[k - 1], beats[k + 1] - beats[k]
        assert coupling < 0.75 * normal, (e.record_id, coupling, normal)
        assert pause > normal
        # compensatory: the sinus node is not reset (a reset would make the sum ~1.6 normal RR)
        assert abs((coupling + pause) - 2 * normal) < 0.15 * normal, (coupling, pause, normal)
        checked += 1
    assert checked >= 10


def test_paroxysmal_af_rr_irregular_after_onset_not_before(ecgs):
    before, after = [], []
    for e in ecgs:
        lab = e.meta["labels"]
        if not lab["paroxysmal_af"] or lab["ectopic_beat"]:
            continue
        beats = _beats(e)
        rr, start, end = np.diff(beats), beats[:-1], beats[1:]
        pre, post = rr[end < lab["af_onset_s"]], rr[start > lab["af_onset_s"]]
        if pre.size >= 3:
            before.append(pre.std() / pre.mean())
        if post.size >= 3:
            after.append(post.std() / post.mean())
    assert len(before) >= 5 and len(after) >= 5
    assert max(before) < 0.06, before
    assert np.median(after) > 3 * np.median(before) and np.median(after) > 0.1, after


def test_fibrillatory_waves_start_at_the_onset():
    """Between beats, the 4-9 Hz atrial band is quiet before the onset and active after it."""
    cfg = SynthConfig(p_af=1.0, p_paroxysmal_af=1.0, noise_probs=(1.0, 0.0, 0.0), p_baseline_wander=0.0)
    sos = butter(2, [4.0, 9.0], "bandpass", fs=500.0, output="sos")
    ratios = []
    for e in synthesize(12, seed=2, config=cfg):
        onset = e.meta["labels"]["af_onset_s"]
        assert e.meta["labels"]["rhythm"] == "atrial fibrillation" and e.meta["labels"]["paroxysmal_af"]
        v1 = sosfiltfilt(sos, e.signal[STANDARD_LEADS.index("V1")].astype(np.float64))
        t = np.arange(v1.size) / 500.0
        far = np.ones(v1.size, bool)  # keep samples away from every QRS and T wave
        for r in e.meta["synth"]["r_peak_s"]:
            far &= (t < r - 0.25) | (t > r + 0.5)
        pre, post = far & (t < onset - 0.2), far & (t > onset + 0.3)
        if pre.sum() > 100 and post.sum() > 100:
            ratios.append(np.std(v1[post]) / np.std(v1[pre]))
    assert len(ratios) >= 4 and min(ratios) > 1.5, ratios


def test_same_seed_same_findings_other_seed_differs():
    a = synthesize(10, seed=5, config=FINDINGS)
    b = synthesize(10, seed=5, config=FINDINGS)
    c = synthesize(10, seed=6, config=FINDINGS)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.signal, y.signal)
        assert x.meta == y.meta
    assert [x.meta["labels"]["ectopic_beat_s"] for x in a] != [x.meta["labels"]["ectopic_beat_s"] for x in c]


def test_findings_fit_short_records():
    out = synthesize(
        8, seed=1, duration_s=3.0, config=SynthConfig(p_af=0.5, p_ectopic=1.0, p_paroxysmal_af=1.0)
    )
    for e in out:
        lab = e.meta["labels"]
        assert e.signal.shape == (12, 1500)
        if lab["ectopic_beat"]:
            assert 0.0 <= lab["ectopic_beat_s"] < 3.0
        if lab["paroxysmal_af"]:
            assert 0.5 <= lab["af_onset_s"] <= 2.5
    assert sum(e.meta["labels"]["ectopic_beat"] for e in out) >= 6


@pytest.mark.parametrize(
    "bad",
    [
        {"p_ectopic": 1.5},
        {"p_paroxysmal_af": -0.1},
        {"ectopic_window_s": (5.0, 2.0)},
        {"af_onset_window_s": (-1.0, 2.0)},
    ],
)
def test_bad_finding_config_raises(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        SynthConfig(**bad)


def test_config_round_trips_with_findings():
    assert SynthConfig.from_dict(FINDINGS.to_dict()) == FINDINGS
