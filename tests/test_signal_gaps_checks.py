"""Missing values and record checks: NaN runs, inf, flat lines, empty and too-short input."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError
from ecgbyte.signal import PreprocessConfig, preprocess
from ecgbyte.signal.checks import check_signal, flat_leads
from ecgbyte.signal.gaps import fill_gaps, nan_runs

FS = 500.0


def ramp(leads=3, n=5000):
    return (
        np.tile(np.arange(n, dtype=np.float32) / 100, (leads, 1))
        + np.arange(leads, dtype=np.float32)[:, None]
    )


def test_nan_runs():
    starts, lengths = nan_runs(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool))
    assert starts.tolist() == [0, 4, 6] and lengths.tolist() == [2, 1, 3]
    assert [a.tolist() for a in nan_runs(np.zeros(4, dtype=bool))] == [[], []]


def test_short_gaps_are_interpolated_linearly(caplog):
    x = ramp()
    y0 = x.copy()
    x[0, 100:120] = np.nan  # 20 samples = 0.04 s
    x[2, 3000:3050] = np.nan  # 50 samples = 0.1 s, exactly the limit
    with caplog.at_level(logging.INFO, logger="ecgbyte.signal.gaps"):
        y, n = fill_gaps(x, FS, 0.1, where="rec1")
    assert n == 70
    assert "rec1: filled 70 missing sample(s)" in caplog.text
    np.testing.assert_allclose(y, y0, atol=1e-5)  # a ramp is restored exactly
    assert np.isnan(x).sum() == 70  # input untouched


def test_gaps_at_the_edges_take_the_nearest_value():
    x = ramp(1, 1000)
    x[0, :5] = np.nan
    x[0, -3:] = np.nan
    y, n = fill_gaps(x, FS, 0.1)
    assert n == 8
    assert np.all(y[0, :5] == y[0, 5]) and np.all(y[0, -3:] == y[0, -4])


def test_no_nan_is_a_no_op():
    x = ramp()
    y, n = fill_gaps(x, FS, 0.1)
    assert n == 0 and np.array_equal(y, x)


def test_long_gap_rejects_the_record_with_its_name():
    x = ramp()
    x[1, 1000:1051] = np.nan  # 51 samples > 50
    with pytest.raises(RecordError, match=r"rec7.*lead II.*51 missing samples.*max_gap_s=0.1") as err:
        fill_gaps(x, FS, 0.1, where="rec7", leads=("I", "II", "III"))
    assert err.value.reason == "nan_gap" and err.value.path == "rec7"
    y, n = fill_gaps(x, FS, 0.2)  # a larger limit accepts it
    assert n == 51 and not np.isnan(y).any()


def test_all_nan_lead_is_rejected():
    x = ramp()
    x[2] = np.nan
    with pytest.raises(RecordError, match="no valid sample") as err:
        fill_gaps(x, FS, 100.0, where="r")
    assert err.value.reason == "nan_gap"


def test_fill_gaps_bad_arguments():
    with pytest.raises(ConfigError):
        fill_gaps(ramp(), 0, 0.1)
    with pytest.raises(ConfigError):
        fill_gaps(ramp(), FS, -1)


@pytest.mark.parametrize("shape", [(0, 5000), (12, 0), (0, 0)])
def test_empty_input_is_rejected(shape):
    with pytest.raises(RecordError, match="empty signal") as err:
        check_signal(np.zeros(shape, np.float32), FS, where="e1")
    assert err.value.reason == "empty"


def test_infinite_values_are_rejected_with_position():
    x = ramp()
    x[1, 250] = np.inf
    x[2, 10] = -np.inf
    with pytest.raises(
        RecordError, match=r"2 infinite value\(s\), first in row 1 at sample 250 \(0.500 s\)"
    ) as e:
        check_signal(x, FS, where="inf_rec")
    assert e.value.reason == "non_finite" and "inf_rec" in str(e.value)


def test_flat_lines():
    x = np.full((12, 5000), 0.3, np.float32)
    with pytest.raises(RecordError, match="flat-line") as err:
        check_signal(x, FS)
    assert err.value.reason == "flat"
    x[4] = np.sin(np.arange(5000) / 50)
    check_signal(x, FS)  # one live lead is enough
    assert flat_leads(x).tolist() == [True] * 4 + [False] + [True] * 7
    x[0, 7] = np.nan  # NaN does not make a constant lead non-flat
    assert flat_leads(x)[0]


def test_too_short():
    with pytest.raises(RecordError, match="too short: 10 samples") as err:
        check_signal(ramp(2, 10), FS, min_samples=11)
    assert err.value.reason == "too_short"


# ---- the same checks through preprocess(), on Ecg records -----------------------------------
def ecg(x, fs=FS):
    return Ecg(x, fs, leads=("I", "II", "III")[: len(x)], record_id="r42")


def test_preprocess_rejects_with_reasons():
    x = np.sin(np.arange(5000) / 30)[None].repeat(3, 0).astype(np.float32)
    bad_inf = x.copy()
    bad_inf[0, 0] = np.inf
    long_gap = x.copy()
    long_gap[1, :500] = np.nan
    cases = [
        (bad_inf, "non_finite"),
        (np.zeros_like(x), "flat"),
        (x[:, :4998], "too_short"),
        (long_gap, "nan_gap"),
    ]
    for arr, reason in cases:
        with pytest.raises(RecordError) as err:
            preprocess(ecg(arr))
        assert err.value.reason == reason and "r42" in str(err.value)
    with pytest.raises(RecordError, match="fill_gaps is off") as err:
        x2 = x.copy()
        x2[0, 3] = np.nan
        preprocess(ecg(x2), PreprocessConfig(fill_gaps=False))
    assert err.value.reason == "nan_gap"


def test_preprocess_fills_short_gaps_and_keeps_a_flat_lead(caplog):
    x = np.sin(np.arange(5000) / 30)[None].repeat(3, 0).astype(np.float32)
    x[0, 10:20] = np.nan
    x[2] = 0.0
    with caplog.at_level(logging.WARNING, logger="ecgbyte.signal.pipeline"):
        out = preprocess(ecg(x))
    assert out.meta["n_gap_filled"] == 10 and out.meta["flat_leads"] == ["III"]
    assert "flat lead(s) III kept" in caplog.text
    assert np.isfinite(out.signal).all() and out.signal.shape == (3, 2500)
    np.testing.assert_allclose(out.signal[2], 0.0, atol=1e-6)


def test_checks_off_lets_a_short_record_through():
    x = np.sin(np.arange(400) / 30)[None].astype(np.float32)
    out = preprocess(Ecg(x, FS, leads=("I",)), PreprocessConfig(check=False))
    assert out.signal.shape == (1, 200)
