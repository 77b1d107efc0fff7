"""preprocess() and segment() end to end on the real WFDB fixtures and on generated records."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgbyte.ecg import Ecg
from ecgbyte.errors import ConfigError, RecordError
from ecgbyte.signal import PreprocessConfig, preprocess, segment
from ecgbyte.signal import filters as filters_mod
from ecgbyte.signal import wavelet as wavelet_mod


def read(path, **kw):
    sig, f = wfdb.rdsamp(str(path), channels=list(range(12)))
    return Ecg(sig.T, f["fs"], record_id=path.name, meta={"keep": 1}, **kw)


REAL = [
    ("ptb-xl/records500/00000/00002_hr", 500.0, 5000, 2500),
    ("ptb-xl/records100/00000/00002_lr", 100.0, 1000, 2500),
    ("wfdb-sample-data/s0010_re", 1000.0, 38400, 9600),
    ("cinc2021/E07500", 500.0, 5000, 2500),
]


@pytest.mark.parametrize(("rel", "fs", "n_in", "n_out"), REAL)
def test_real_records_lengths_and_segment_counts(shared_data, rel, fs, n_in, n_out):
    ecg = read(shared_data / rel)
    assert (ecg.fs, ecg.n_samples) == (fs, n_in)
    out = preprocess(ecg)
    assert out.signal.shape == (12, n_out) and out.signal.dtype == np.float32 and out.fs == 250.0
    assert np.isfinite(out.signal).all()
    assert out.meta == {"keep": 1, "preprocess_hash": PreprocessConfig().hash()}
    assert out.record_id == ecg.record_id and out.leads == ecg.leads
    for length in (500, 1250, 2500):
        segs = segment(out, length)
        assert len(segs) == n_out // length
        assert all(s.signal.shape == (12, length) for s in segs)
    # the amplitude stays in mV: a 12-lead record has QRS complexes of a few tenths to a few mV
    assert 0.2 < np.abs(out.signal).max() < 10


def test_all_ptbxl_500hz_records_give_one_10s_segment(ptbxl_dir):
    paths = sorted((ptbxl_dir / "records500").rglob("*_hr.hea"))[:12]
    assert len(paths) == 12
    for p in paths:
        out = preprocess(read(p.with_suffix("")))
        assert out.signal.shape == (12, 2500)
        assert [s.meta["segment_index"] for s in segment(out, 1250)] == [0, 1]


def test_500hz_and_100hz_versions_agree(ptbxl_dir):
    hr = preprocess(read(ptbxl_dir / "records500/00000/00002_hr")).signal
    lr = preprocess(read(ptbxl_dir / "records100/00000/00002_lr")).signal
    corr = [np.corrcoef(hr[i, 250:-250], lr[i, 250:-250])[0, 1] for i in range(12)]
    assert np.median(corr) > 0.9


def test_preprocess_equals_the_stages_run_by_hand():
    rng = np.random.default_rng(5)
    x = (np.sin(np.arange(5000) / 20) + 0.1 * rng.standard_normal((12, 5000))).astype(np.float32)
    out = preprocess(Ecg(x, 500.0))
    cfg = PreprocessConfig()
    by_hand = wavelet_mod.denoise(filters_mod.chain(x, 500.0, cfg))[:, ::2]
    np.testing.assert_allclose(out.signal, by_hand, atol=1e-6)


def test_every_step_switched_off_is_the_identity():
    x = np.random.default_rng(0).standard_normal((12, 5000)).astype(np.float32)
    off = PreprocessConfig(notch=False, bandpass=False, highpass=False, denoise=False, resample=False)
    out = preprocess(Ecg(x, 500.0), off)
    assert out.fs == 500.0 and np.array_equal(out.signal, x)
    assert out.meta["preprocess_hash"] == off.hash() != PreprocessConfig().hash()


def test_resample_only_changes_rate():
    x = np.random.default_rng(0).standard_normal((2, 5000)).astype(np.float32)
    cfg = PreprocessConfig(
        notch=False, bandpass=False, highpass=False, denoise=False, target_fs=125, segment_length=None
    )
    out = preprocess(Ecg(x, 500.0, leads=("I", "II")), cfg)
    assert out.fs == 125.0 and np.array_equal(out.signal, x[:, ::4])


def test_segment_meta_and_tail():
    x = np.arange(2 * 1300, dtype=np.float32).reshape(2, 1300)
    ecg = Ecg(x, 250.0, leads=("I", "II"), record_id="s1", meta={"a": 1})
    segs = segment(ecg, 500)
    assert len(segs) == 2  # 300 samples of tail dropped
    assert [s.meta["segment_index"] for s in segs] == [0, 1]
    assert [s.meta["segment_start_s"] for s in segs] == [0.0, 2.0]
    assert all(s.meta["a"] == 1 and s.record_id == "s1" and s.fs == 250.0 for s in segs)
    np.testing.assert_array_equal(segs[1].signal, x[:, 500:1000])
    assert segs[1].signal.flags.c_contiguous
    assert "segment_index" not in ecg.meta  # the source is not changed


def test_segment_errors():
    ecg = Ecg(np.zeros((1, 400), np.float32), 250.0, leads=("I",), record_id="tiny")
    with pytest.raises(RecordError, match=r"tiny.*too short for one segment") as err:
        segment(ecg, 500)
    assert err.value.reason == "too_short"
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError, match="positive whole number"):
            segment(ecg, bad)


def test_synth_records_preprocess_if_available():
    from ecgbyte.signal import synth

    recs = synth.synthesize(2, seed=0)
    for r in recs:
        out = preprocess(r)
        assert out.signal.shape == (r.n_leads, round(r.n_samples * 250 / r.fs))
        assert np.isfinite(out.signal).all()
