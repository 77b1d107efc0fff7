"""Filters in the frequency domain: notch depth, flat pass band, baseline removal, Nyquist handling."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.signal import PreprocessConfig, filters

FS = 500.0


def sines(freqs, *, fs=FS, duration_s=10.0, leads=3, seed=0, noise=0.0):
    """``[leads, samples]`` sum of unit sines (random phases per lead) plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs)) / fs
    x = np.zeros((leads, t.size))
    for f in freqs:
        x += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (leads, 1)))
    return (x + noise * rng.standard_normal(x.shape)).astype(np.float32)


def amplitude(x, f, fs=FS, trim_s=1.0):
    """Amplitude of frequency ``f`` (Hz) per lead, fitted by least squares away from the edges."""
    k = int(trim_s * fs)
    y = np.asarray(x, dtype=np.float64)[..., k : x.shape[-1] - k]
    t = np.arange(y.shape[-1]) / fs
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)])
    coef = np.linalg.lstsq(basis.T, y.T, rcond=None)[0]
    return np.hypot(coef[0], coef[1])


def db(ratio):
    return 20 * np.log10(ratio)


@pytest.mark.parametrize("f", [50.0, 60.0])
def test_notch_removes_mains_by_at_least_20_db(f):
    x = sines([10.0, f], noise=0.01)
    y = filters.notch(x, FS)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(db(amplitude(y, f) / amplitude(x, f)) <= -20)
    assert np.all(np.abs(db(amplitude(y, 10.0) / amplitude(x, 10.0))) < 0.1)


PASS = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 45.0, 70.0, 80.0]


def test_full_filter_chain_passband_is_flat_within_1_db():
    x = sines(PASS, noise=0.0)
    y = filters.chain(x, FS, PreprocessConfig())
    gains = np.array([db(amplitude(y, f) / amplitude(x, f)) for f in PASS])
    assert np.all(np.abs(gains) < 1.0), dict(zip(PASS, gains.max(axis=1)))


def test_chain_removes_baseline_wander():
    # 30 s so that 0.05-0.3 Hz wander has several cycles; ECG band content at 8 Hz.
    slow = [0.1, 0.2, 0.3]
    x = sines([*slow, 8.0], duration_s=30.0)
    y = filters.chain(x, FS, PreprocessConfig())
    for f in slow:
        assert np.all(db(amplitude(y, f, trim_s=5) / amplitude(x, f, trim_s=5)) < -15), f
    assert np.all(np.abs(db(amplitude(y, 8.0) / amplitude(x, 8.0))) < 0.1)
    # and a DC offset is gone
    y0 = filters.highpass(x + 3.0, FS)
    assert np.abs(y0[:, 5000:-5000].mean()) < 0.05


def test_bandpass_attenuates_above_high_edge():
    x = sines([20.0, 200.0])
    y = filters.bandpass(x, FS, low=0.5, high=100.0)
    assert np.all(db(amplitude(y, 200.0) / amplitude(x, 200.0)) < -40)
    assert np.all(np.abs(db(amplitude(y, 20.0) / amplitude(x, 20.0))) < 0.1)


def test_zero_phase_no_delay():
    x = sines([5.0], leads=1)
    y = filters.chain(x, FS, PreprocessConfig())
    mid = slice(1000, 4000)
    lag = np.argmax(np.correlate(y[0, mid], x[0, mid], mode="full")) - (mid.stop - mid.start - 1)
    assert lag == 0


def test_edges_match_the_same_stretch_filtered_inside_a_long_record():
    # A 10 s excerpt filtered on its own vs. the same 10 s filtered as part of 70 s:
    # the mirror padding keeps the edge transients of the 0.05 Hz high-pass small.
    long = sines([0.2, 3.0, 17.0, 50.0, 60.0, 90.0], duration_s=70.0, noise=0.1)
    cut = slice(30 * 500, 40 * 500)
    truth = filters.chain(long, FS, PreprocessConfig())[:, cut]
    fused = filters.chain(long[:, cut], FS, PreprocessConfig())
    seq = filters.highpass(filters.bandpass(filters.notch(long[:, cut], FS), FS), FS)
    inner = slice(500, -500)  # 1 s .. 9 s
    rms = np.sqrt(np.mean((fused - truth)[:, inner] ** 2))
    assert rms < 0.03  # mV, for a signal of RMS ~1.7 mV with 1 mV of 0.2 Hz wander
    assert rms < np.sqrt(np.mean((seq - truth)[:, inner] ** 2))


def test_vectorized_over_leads_and_1d_input():
    x = sines([7.0, 50.0], leads=4, noise=0.1)
    y = filters.chain(x, FS, PreprocessConfig())
    one = filters.chain(x[2], FS, PreprocessConfig())
    assert one.shape == (x.shape[1],)
    np.testing.assert_allclose(one, y[2], rtol=0, atol=1e-6)


def test_chain_with_every_filter_off_is_identity():
    x = sines([7.0])
    cfg = PreprocessConfig(notch=False, bandpass=False, highpass=False)
    assert filters.chain_sos(FS, cfg).shape == (0, 6)
    np.testing.assert_array_equal(filters.chain(x, FS, cfg), x)


def test_100hz_input_skips_notches_and_uses_highpass_only(caplog):
    fs = 100.0
    x = sines([0.1, 10.0, 45.0], fs=fs, duration_s=30.0)
    with caplog.at_level(logging.INFO, logger="ecgbyte.signal.filters"):
        filters._notch_sos.cache_clear()
        filters._bandpass_sos.cache_clear()
        y = filters.chain(x, fs, PreprocessConfig())
    text = caplog.text
    assert "notch at 50 Hz is at or above Nyquist" in text and "notch at 60 Hz" in text
    assert "using a 0.5 Hz high-pass only" in text
    assert np.all(np.isfinite(y))
    # 45 Hz is kept (no low-pass at 50 Hz Nyquist), the 0.1 Hz wander is removed
    assert np.all(np.abs(db(amplitude(y, 45.0, fs) / amplitude(x, 45.0, fs))) < 0.5)
    assert np.all(db(amplitude(y, 0.1, fs, trim_s=5) / amplitude(x, 0.1, fs, trim_s=5)) < -15)
    sos = filters.chain_sos(fs, PreprocessConfig())
    assert len(sos) == 2 + 2  # 4th-order high-pass (2 sections) + 0.05 Hz high-pass (2 sections)


def test_impossible_cutoffs_raise_config_error():
    x = sines([5.0], fs=100.0)
    with pytest.raises(ConfigError, match="Nyquist"):
        filters.highpass(x, 100.0, cutoff=60.0)
    with pytest.raises(ConfigError, match="low < high"):
        filters.bandpass(x, 100.0, low=10.0, high=5.0)
    with pytest.raises(ConfigError, match="sampling rate"):
        filters.notch(x, 0.0)


def test_short_signal_is_filtered_without_error():
    x = np.ones((2, 5), dtype=np.float32)
    assert filters.chain(x, FS, PreprocessConfig()).shape == (2, 5)


@pytest.mark.parametrize(("fs", "n"), [(500.0, 5000), (100.0, 1000), (1000.0, 3000), (500.0, 7), (500.0, 2)])
def test_kernel_computes_what_scipy_sosfiltfilt_computes(fs, n):
    from scipy import signal as sps

    x = np.random.default_rng(int(fs) + n).standard_normal((12, n))
    sos = filters.chain_sos(fs, PreprocessConfig())
    ref = sps.sosfiltfilt(sos, x, axis=-1, padtype="even", padlen=min(int(filters.PAD_S * fs), n - 1))
    got = filters.chain(x, fs, PreprocessConfig())
    np.testing.assert_allclose(got, ref.astype(np.float32), rtol=0, atol=1e-6)
    # the same for a 3-D batch [records, leads, samples]
    np.testing.assert_allclose(filters.chain(np.stack([x, -x]), fs, PreprocessConfig())[1], -got, atol=1e-6)
