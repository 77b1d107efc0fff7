"""Resampling: exact lengths, integer-ratio decimation equals cubic interpolation, accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from scipy.interpolate import interp1d

from ecgbyte.errors import ConfigError
from ecgbyte.signal.resample import output_length, resample


@pytest.mark.parametrize(
    ("n", "fs", "target", "expected"),
    [(5000, 500, 250, 2500), (1000, 100, 250, 2500), (38400, 1000, 250, 9600), (5001, 500, 250, 2501),
     (5000, 500, 500, 5000), (7, 500, 250, 4), (3, 360, 250, 3), (5000, 500, 100, 1000)],
)  # fmt: skip
def test_output_length(n, fs, target, expected):
    assert output_length(n, fs, target) == expected
    assert resample(np.zeros((2, n), np.float32), fs, target).shape == (2, expected)


@pytest.mark.parametrize(("fs", "ratio"), [(500.0, 2), (1000.0, 4), (750.0, 3)])
def test_integer_downsampling_is_exactly_cubic_interpolation_on_the_sample_grid(fs, ratio):
    # Proof of the fast path: a cubic interpolating spline evaluated at its own
    # knots returns the data, so cubic resampling by an integer factor is x[::r].
    x = np.random.default_rng(0).standard_normal((3, 1001))
    t_in = np.arange(x.shape[1]) / fs
    m = output_length(x.shape[1], fs, 250.0)
    t_out = np.arange(m) / 250.0
    spline = interp1d(t_in, x, kind="cubic", axis=-1, bounds_error=False, fill_value="extrapolate")(t_out)
    fast = resample(x, fs, 250.0)
    np.testing.assert_allclose(fast, spline, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(fast, x[:, ::ratio].astype(np.float32))


def test_upsampling_matches_scipy_cubic_and_is_accurate():
    fs, target = 100.0, 250.0
    t = np.arange(1000) / fs
    x = np.stack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 7 * t)])
    y = resample(x, fs, target)
    t_out = np.arange(2500) / target
    ref = interp1d(t, x, kind="cubic", axis=-1, fill_value="extrapolate")(t_out)
    np.testing.assert_allclose(y, ref, atol=1e-5)
    truth = np.stack([np.sin(2 * np.pi * 3 * t_out), np.cos(2 * np.pi * 7 * t_out)])
    assert np.abs(y[:, :-3] - truth[:, :-3]).max() < 0.01  # cubic error of a 7 Hz wave at 100 Hz


def test_same_rate_and_tiny_inputs():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    y = resample(x, 250, 250)
    assert y.dtype == np.float32 and np.array_equal(y, x)
    np.testing.assert_allclose(resample(np.array([[1.0]]), 100, 250), [[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(
        resample(np.array([[0.0, 1.0]]), 100, 250), [[0.0, 0.4, 0.8, 1.2, 1.6]], atol=1e-6
    )


@pytest.mark.parametrize("bad", [0, -250, float("nan"), float("inf"), None, "250"])
def test_bad_rates_raise(bad):
    with pytest.raises(ConfigError, match="positive number of Hz"):
        resample(np.zeros((1, 10)), bad, 250)
    with pytest.raises(ConfigError):
        resample(np.zeros((1, 10)), 500, bad)


@pytest.mark.parametrize(
    ("rel", "n_in", "n_out"),
    [("ptb-xl/records500/00000/00002_hr", 5000, 2500), ("ptb-xl/records100/00000/00002_lr", 1000, 2500),
     ("wfdb-sample-data/s0010_re", 38400, 9600), ("cinc2021/HR06000", 5000, 2500)],
)  # fmt: skip
def test_real_record_lengths(shared_data, rel, n_in, n_out):
    sig, fields = wfdb.rdsamp(str(shared_data / rel), channels=list(range(12)))
    x = sig.T.astype(np.float32)
    assert x.shape == (12, n_in)
    y = resample(x, fields["fs"], 250.0)
    assert y.shape == (12, n_out)
    if fields["fs"] in (500, 1000):
        np.testing.assert_array_equal(y, x[:, :: int(fields["fs"] // 250)])
