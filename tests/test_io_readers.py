"""Readers: WFDB and NumPy records into Ecg (units, lead order, metadata) and every bad-input error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import DatasetError, EcgbyteError, RecordError
from ecgbyte.io import discover, read_numpy, read_record, read_wfdb


def _signal(n_sig: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Seeded test signal ``[samples, n_sig]`` in mV: distinct sinusoid per channel plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 500.0
    rows = [np.sin(2 * np.pi * (1 + i) * t) * (0.5 + 0.1 * i) for i in range(n_sig)]
    return (np.stack(rows, axis=1) + 0.01 * rng.standard_normal((n, n_sig))).astype(np.float64)


def _write(tmp: Path, name: str, names, *, units="mV", fs=500, x=None) -> Path:
    x = _signal(len(names)) if x is None else x
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * len(names),
        sig_name=list(names),
        p_signal=x,
        fmt=["16"] * len(names),
        write_dir=str(tmp),
    )
    return tmp / f"{name}.hea"


# ---------------------------------------------------------------- real records


def test_ptbxl_500_and_100_hz(ptbxl_dir: Path) -> None:
    hr = read_record(ptbxl_dir / "records500/00000/00002_hr.hea")
    lr = read_record(ptbxl_dir / "records100/00000/00002_lr")
    assert (hr.fs, hr.signal.shape, hr.signal.dtype) == (500.0, (12, 5000), np.float32)
    assert (lr.fs, lr.signal.shape) == (100.0, (12, 1000))
    assert hr.leads == STANDARD_LEADS == lr.leads  # header spells AVR/AVL/AVF
    raw = wfdb.rdrecord(str(ptbxl_dir / "records500/00000/00002_hr")).p_signal.T
    np.testing.assert_allclose(hr.signal, raw, atol=1e-6)
    # III = II - I (Einthoven), so the values really are in mV rows in canonical order
    np.testing.assert_allclose(hr.signal[2], hr.signal[1] - hr.signal[0], atol=0.01)
    assert hr.record_id == "00002_hr" and hr.meta["dropped_signals"] == []


def test_cinc2021_mat_backed_lowercase_mv_units(shared_data: Path) -> None:
    ecg = read_record(shared_data / "cinc2021/HR06000.hea")
    rec = wfdb.rdrecord(str(shared_data / "cinc2021/HR06000"))
    assert rec.units[0] == "mv"
    np.testing.assert_allclose(ecg.signal, rec.p_signal.T, atol=1e-6)
    assert ecg.meta["header"]["age"] == "59" and ecg.meta["header"]["sex"] == "Female"
    assert ecg.meta["header"]["dx"] == "164934002,426783006"
    assert ecg.meta["comments"][0] == "Age: 59"
    assert read_record(shared_data / "cinc2021/E07500.mat").signal.shape == (12, 5000)


def test_ptb_1000hz_15_signals_drops_frank_leads(shared_data: Path) -> None:
    ecg = read_wfdb(shared_data / "wfdb-sample-data/s0010_re")
    assert (ecg.fs, ecg.signal.shape, ecg.leads) == (1000.0, (12, 38400), STANDARD_LEADS)
    assert ecg.meta["dropped_signals"] == ["vx", "vy", "vz"]
    assert ecg.meta["header"]["age"] == "81"
    rec = wfdb.rdrecord(str(shared_data / "wfdb-sample-data/s0010_re"), channels=[3])
    np.testing.assert_allclose(ecg.signal[3], rec.p_signal[:, 0], atol=1e-6)  # avr -> aVR


def test_the_three_avr_spellings_read_identically(tmp_path: Path) -> None:
    x = _signal(12)
    shuffled = [5, 3, 4, 0, 1, 2, 11, 10, 9, 8, 7, 6]
    out = []
    for tag, spell in (("a", "AV{}"), ("b", "aV{}"), ("c", "av{}")):
        names = [spell.format(n[2]) if n.startswith("aV") else n for n in STANDARD_LEADS]
        names = [names[i].lower() if tag == "c" else names[i] for i in shuffled]
        out.append(read_record(_write(tmp_path, f"r{tag}", names, x=x[:, shuffled])))
    for ecg in out:
        assert ecg.leads == STANDARD_LEADS
        np.testing.assert_allclose(ecg.signal, out[0].signal)
    np.testing.assert_allclose(out[0].signal[3], x[:, 3], atol=2e-3)  # aVR row is the 4th input column


def test_uv_and_volt_units_are_converted_to_mv(tmp_path: Path) -> None:
    x = _signal(3)
    mv = read_record(_write(tmp_path, "mv", ["I", "II", "V1"], x=x), leads=None)
    uv = read_record(_write(tmp_path, "uv", ["I", "II", "V1"], units="uV", x=x * 1000), leads=None)
    np.testing.assert_allclose(uv.signal, mv.signal, atol=2e-3)
    assert uv.meta["units"] == ["uV"] * 3


def test_lead_subset_and_missing_lead(tmp_path: Path) -> None:
    hea = _write(tmp_path, "sub", ["V1", "ii", "I"])
    ecg = read_record(hea, leads=None)
    assert ecg.leads == ("I", "II", "V1")
    assert read_record(hea, leads=["V1", "I"]).leads == ("V1", "I")
    with pytest.raises(RecordError, match="missing lead") as exc:
        read_record(hea)
    assert exc.value.reason == "missing_lead" and str(hea) in str(exc.value)


def test_hea_dat_and_stem_paths_are_equivalent(tmp_path: Path) -> None:
    hea = _write(tmp_path, "p", ["I", "II", "V1"])
    a, b, c = (read_record(p, leads=None) for p in (hea, tmp_path / "p.dat", tmp_path / "p"))
    np.testing.assert_array_equal(a.signal, b.signal)
    np.testing.assert_array_equal(a.signal, c.signal)


def test_expected_fs_is_checked(tmp_path: Path) -> None:
    hea = _write(tmp_path, "f", ["I"])
    assert read_record(hea, leads=None, fs=500).fs == 500.0
    with pytest.raises(RecordError, match="500 Hz but 250 Hz") as exc:
        read_record(hea, leads=None, fs=250)
    assert exc.value.reason == "fs_mismatch"


def test_numpy_npy_and_npz(tmp_path: Path) -> None:
    x = _signal(12).T.astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    ecg = read_record(tmp_path / "a.npy", fs=500)
    np.testing.assert_array_equal(ecg.signal, x)
    assert (ecg.record_id, ecg.meta["format"]) == ("a", "npy")
    order = list(reversed(STANDARD_LEADS))
    np.savez(tmp_path / "b.npz", signal=x[::-1] * 1000, fs=500.0, leads=np.array(order), units="uV")
    ecg = read_numpy(tmp_path / "b.npz")
    assert ecg.fs == 500.0 and ecg.leads == STANDARD_LEADS
    np.testing.assert_allclose(ecg.signal, x, rtol=1e-6)
    with pytest.raises(RecordError) as exc:
        read_numpy(tmp_path / "b.npz", fs=250)
    assert exc.value.reason == "fs_mismatch"


# ---------------------------------------------------------------- bad input


def _bad_cases(tmp: Path) -> dict[str, tuple[Path, dict, str]]:
    """name -> (path to read, read_record kwargs, expected reason)."""
    hea = _write(tmp, "good", ["I", "II", "V1"])
    text = hea.read_text()
    cases: dict[str, tuple[Path, dict, str]] = {}

    def clone(name: str, header: str, data: bytes | None) -> Path:
        (tmp / f"{name}.hea").write_text(header.replace("good", name))
        if data is not None:
            (tmp / f"{name}.dat").write_bytes(data)
        return tmp / f"{name}.hea"

    dat = (tmp / "good.dat").read_bytes()
    cases["missing_dat"] = (clone("nodat", text, None), {}, "missing_data")
    (tmp / "nohea.dat").write_bytes(dat)
    cases["missing_hea"] = (tmp / "nohea.dat", {}, "missing_header")
    cases["truncated"] = (clone("trunc", text, dat[:1001]), {}, "truncated")
    cases["truncated_whole_frames"] = (clone("trunc2", text, dat[:1200]), {}, "truncated")
    cases["empty_dat"] = (clone("empty", text, b""), {}, "truncated")
    cases["garbage_header"] = (clone("garb", "garbage\n", dat), {}, "corrupt_header")
    cases["no_fs"] = (clone("nofs", text.replace("good 3 500 1000", "good 3"), dat), {}, "missing_fs")
    cases["zero_fs"] = (clone("zfs", text.replace("good 3 500 1000", "good 3 0 1000"), dat), {}, "bad_fs")
    cases["text_fs"] = (clone("tfs", text.replace("good 3 500 1000", "good 3 abc 1000"), dat), {}, "bad_fs")
    cases["lead_count"] = (clone("lc", text.replace("good 3 500", "good 4 500"), dat), {}, "lead_count")
    cases["unknown_unit"] = (clone("unit", text.replace("/mV", "/mmHg"), dat), {}, "units")
    (tmp / "notes.txt").write_text("hello")
    cases["unknown_type"] = (tmp / "notes.txt", {}, "unknown_type")
    cases["no_such_file"] = (tmp / "ghost.hea", {}, "missing_file")
    np.save(tmp / "nofs.npy", np.zeros((12, 100), np.float32))
    cases["npy_without_fs"] = (tmp / "nofs.npy", {}, "missing_fs")
    np.save(tmp / "rows.npy", np.zeros((11, 100), np.float32))
    cases["npy_wrong_lead_count"] = (tmp / "rows.npy", {"fs": 500}, "lead_count")
    np.save(tmp / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["npy_pickle_refused"] = (tmp / "obj.npy", {"fs": 500}, "corrupt_data")
    (tmp / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    cases["npy_corrupt"] = (tmp / "junk.npy", {"fs": 500}, "corrupt_data")
    (tmp / "junk.npz").write_bytes(b"PK not a zip")
    cases["npz_corrupt"] = (tmp / "junk.npz", {"fs": 500}, "corrupt_data")
    return cases


BAD = [
    "missing_dat", "missing_hea", "truncated", "truncated_whole_frames", "empty_dat", "garbage_header",
    "no_fs", "zero_fs", "text_fs", "lead_count", "unknown_unit", "unknown_type", "no_such_file",
    "npy_without_fs", "npy_wrong_lead_count", "npy_pickle_refused", "npy_corrupt", "npz_corrupt",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_record_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path, kwargs, reason = _bad_cases(tmp_path)[case]
    with pytest.raises(RecordError) as exc:
        read_record(path, leads=None, **kwargs)
    assert exc.value.reason == reason
    assert exc.value.path is not None and Path(exc.value.path).stem == path.stem
    assert str(Path(exc.value.path).parent) in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_missing_dat_names_the_signal_file(tmp_path: Path) -> None:
    hea = _write(tmp_path, "x", ["I"])
    (tmp_path / "x.dat").unlink()
    with pytest.raises(RecordError, match=r"x\.dat named in the header is missing"):
        read_record(hea, leads=None)


def test_empty_and_missing_directories_are_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no records here")
    with pytest.raises(DatasetError, match="no records found") as exc:
        discover(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(exc.value)
    with pytest.raises(DatasetError, match="no such file"):
        discover(tmp_path / "nowhere")
    with pytest.raises(RecordError, match="is a directory"):
        read_record(tmp_path / "empty")


def test_errors_are_one_family(tmp_path: Path) -> None:
    src = tmp_path / "good.hea"
    shutil.copy(_write(tmp_path, "g", ["I"]), src)  # header names g.dat, which exists
    assert read_record(src, leads=None).n_samples == 1000
    with pytest.raises(EcgbyteError):
        read_record(tmp_path / "missing.npz")
