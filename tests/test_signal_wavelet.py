"""Wavelet denoising: the paper's threshold, noise reduction, shape fidelity, batching."""

from __future__ import annotations

import numpy as np
import pytest
import pywt

from ecgbyte.errors import ConfigError
from ecgbyte.signal import wavelet

FS = 500.0


def ecg_like(n_leads=3, *, fs=FS, duration_s=10.0, hr_bpm=72.0, seed=0):
    """Clean ECG-like ``[leads, samples]`` (mV): Gaussian P, QRS and T waves per beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs)) / fs
    x = np.zeros((n_leads, t.size))
    waves = [
        (-0.2, 0.025, 0.15),
        (-0.03, 0.01, -0.1),
        (0.0, 0.012, 1.2),
        (0.03, 0.01, -0.25),
        (0.25, 0.05, 0.3),
    ]
    gain = rng.uniform(0.5, 1.5, (n_leads, 1))
    for beat in np.arange(0.3, duration_s, 60.0 / hr_bpm):
        for dt, width, amp in waves:
            x += amp * np.exp(-0.5 * ((t - beat - dt) / width) ** 2)
    return (gain * x).astype(np.float32)


def paper_denoise(lead, wavelet_name="db6", level=4):
    """The paper's per-lead algorithm, written out as in its code (for comparison)."""
    coeffs = pywt.wavedec(lead, wavelet_name, level=level)
    med = np.median(np.abs(coeffs[-level]))
    t = 0 if med == 0 else med / 0.6745
    new = [coeffs[0]] + [pywt.threshold(c, t, mode="soft") for c in coeffs[1:]]
    return pywt.waverec(new, wavelet_name)[: lead.size]


def test_matches_the_papers_per_lead_algorithm():
    rng = np.random.default_rng(1)
    x = ecg_like(4) + 0.05 * rng.standard_normal((4, 5000)).astype(np.float32)
    y = wavelet.denoise(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    for i in range(4):
        np.testing.assert_allclose(y[i], paper_denoise(x[i].astype(np.float64)), atol=1e-5)


def test_threshold_is_median_abs_of_coarsest_detail_over_0_6745():
    x = np.random.default_rng(2).standard_normal((2, 4096))
    x[1] *= 3.0
    t = wavelet.thresholds(x)
    cd4 = pywt.wavedec(x, "db6", level=4, axis=-1)[1]
    np.testing.assert_allclose(t[:, 0], np.median(np.abs(cd4), axis=-1) / 0.6745)
    assert t[1, 0] == pytest.approx(3 * t[0, 0], rel=0.25)  # one threshold per lead
    finest = wavelet.thresholds(x, noise_detail="finest")
    cd1 = pywt.wavedec(x, "db6", level=4, axis=-1)[-1]
    np.testing.assert_allclose(finest[:, 0], np.median(np.abs(cd1), axis=-1) / 0.6745)


@pytest.mark.parametrize("noise_detail", ["coarsest", "finest"])
def test_reduces_white_noise_and_keeps_the_ecg(noise_detail):
    clean = ecg_like(3)
    noise = 0.05 * np.random.default_rng(3).standard_normal(clean.shape)
    y = wavelet.denoise(clean + noise, noise_detail=noise_detail)
    err = np.mean((y - clean) ** 2, axis=-1)
    assert np.all(err < 0.3 * np.mean(noise**2, axis=-1))  # at least 5 dB less noise (measured ~7)
    # the clean waveform survives: correlation and R-peak amplitude
    for i in range(3):
        assert np.corrcoef(y[i], clean[i])[0, 1] > 0.97
        assert y[i].max() == pytest.approx(clean[i].max(), rel=0.1)


def test_clean_signal_stays_close():
    clean = ecg_like(2)
    y = wavelet.denoise(clean)
    rel = np.sqrt(np.mean((y - clean) ** 2)) / np.sqrt(np.mean(clean**2))
    assert rel < 0.1


def test_batch_equals_per_lead_and_1d():
    x = ecg_like(5) + 0.02 * np.random.default_rng(4).standard_normal((5, 5000)).astype(np.float32)
    y = wavelet.denoise(x)
    np.testing.assert_allclose(wavelet.denoise(x[3]), y[3], atol=1e-6)


def test_odd_and_short_lengths_keep_their_length():
    for n in (4999, 101, 3):
        x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
        assert wavelet.denoise(x).shape == (2, n)
    assert wavelet.denoise(np.zeros((2, 0), np.float32)).shape == (2, 0)


def test_zero_signal_stays_zero():
    np.testing.assert_array_equal(wavelet.denoise(np.zeros((2, 1000))), 0.0)


def test_bad_arguments():
    x = np.zeros((1, 100))
    with pytest.raises(ConfigError, match="unknown wavelet"):
        wavelet.denoise(x, wavelet="db99x")
    with pytest.raises(ConfigError, match="noise_detail"):
        wavelet.denoise(x, noise_detail="all")
    with pytest.raises(ConfigError, match="level"):
        wavelet.denoise(x, level=0)
