"""The NumPy fast path for single-file format-16 WFDB records must equal ``wfdb.rdrecord``."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from ecgbyte.errors import RecordError
from ecgbyte.io import read_wfdb
from ecgbyte.io.wfdb_reader import _check_record_line, _header_lines, _read_fmt16


def _reference(stem):
    rec = wfdb.rdrecord(str(stem), physical=True)
    return rec.p_signal, [str(n) for n in rec.sig_name], rec.comments


@pytest.mark.parametrize(
    "rel",
    [
        "ptb-xl/records500/00000/00002_hr",
        "ptb-xl/records100/00000/00002_lr",
        "cinc2021/E07500",  # .mat with a 24-byte header: format 16x1+24
        "cinc2021/HR06000",  # units written 'mv'
        "cinc2021/JS20001",
    ],
)
def test_fast_path_matches_wfdb_on_real_records(shared_data, rel):
    stem = shared_data / rel
    hea = stem.with_name(stem.name + ".hea")
    lines = _header_lines(hea)
    n_sig, _, sig_len, _ = _check_record_line(lines, hea)
    fast = _read_fmt16(hea, lines, n_sig, sig_len)
    assert fast is not None, "these records are single-file format 16 and must take the fast path"
    phys, names, _, comments, mismatch = fast
    assert mismatch == []  # header checksums agree (PTB-XL writes them unsigned: compared mod 2**16)
    ref, ref_names, ref_comments = _reference(stem)
    np.testing.assert_allclose(phys, ref, rtol=0, atol=1e-12)
    assert names == ref_names
    assert comments == ref_comments


def test_multi_file_record_falls_back_to_wfdb(shared_data):
    # s0010_re keeps 12 leads in .dat and the Frank leads in .xyz: not the fast path
    stem = shared_data / "wfdb-sample-data" / "s0010_re"
    hea = stem.with_name("s0010_re.hea")
    lines = _header_lines(hea)
    assert _read_fmt16(hea, lines, 15, 38400) is None
    ecg = read_wfdb(stem)
    ref = wfdb.rdrecord(str(stem), channels=[0], physical=True).p_signal[:, 0]
    np.testing.assert_allclose(ecg.signal[0], ref.astype(np.float32))


def _write(tmp_path, d_signal, **kw):
    wfdb.wrsamp(
        "rec",
        fs=500,
        units=["mV"] * d_signal.shape[1],
        sig_name=["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        d_signal=d_signal,
        fmt=["16"] * d_signal.shape[1],
        adc_gain=[200.0] * d_signal.shape[1],
        baseline=[5] * d_signal.shape[1],
        write_dir=str(tmp_path),
        **kw,
    )
    return tmp_path / "rec"


def test_invalid_samples_become_nan_and_baseline_gain_apply(tmp_path):
    d = np.arange(12 * 100, dtype=np.int16).reshape(100, 12) - 600
    d[10, 3] = -32768  # WFDB's "no sample" value for format 16
    stem = _write(tmp_path, d)
    ecg = read_wfdb(stem)
    expected = (d.astype(np.float64) - 5) / 200.0
    assert np.isnan(ecg.signal[3, 10])
    mask = np.ones_like(d, bool)
    mask[10, 3] = False
    np.testing.assert_allclose(ecg.signal.T[mask], expected[mask].astype(np.float32))


def test_truncated_fast_path_file_names_the_file(tmp_path):
    stem = _write(tmp_path, np.zeros((100, 12), np.int16))
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:-10])
    with pytest.raises(RecordError, match=r"rec\.dat.*truncated") as err:
        read_wfdb(stem)
    assert err.value.reason == "truncated"
