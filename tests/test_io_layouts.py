"""Dataset layouts: PTB-XL (real index), MIMIC-IV-ECG (fake tree written with wfdb), plain directories."""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgbyte.ecg import STANDARD_LEADS
from ecgbyte.errors import ConfigError, DatasetError, RecordError
from ecgbyte.io import detect_layout, discover, parse_scp_codes, read_record

# MIMIC-IV-ECG stores aVF before aVL
MIMIC_LEADS = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]


def _mimic_tree(root: Path, *, with_index: bool = True) -> list[tuple[str, str]]:
    rng = np.random.default_rng(3)
    ids = [("10000032", "40689238"), ("10000032", "44458630"), ("10000117", "45090959")]
    rows = []
    for subject, study in ids:
        folder = root / "files" / f"p{subject[:4]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True)
        x = rng.standard_normal((5000, 12)) * 0.3
        wfdb.wrsamp(study, fs=500, units=["mV"] * 12, sig_name=MIMIC_LEADS, p_signal=x, fmt=["16"] * 12,
                    write_dir=str(folder))  # fmt: skip
        rel = folder.relative_to(root) / study
        rows.append([subject, study, study, "2180-07-23 08:44:00", rel.as_posix()])
    if with_index:
        with (root / "record_list.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["subject_id", "study_id", "file_name", "ecg_time", "path"])
            w.writerows(rows)
    return ids


def test_ptbxl_discovery_records500_default(full_shared_data, ptbxl_dir: Path) -> None:
    refs = discover(ptbxl_dir)
    assert detect_layout(ptbxl_dir) == "ptbxl" and len(refs) == 67
    first = refs[0]
    assert first.path == ptbxl_dir / "records500/00000/00002_hr.hea"
    assert (first.record_id, first.patient_id) == ("2", "13243")
    assert first.meta["strat_fold"] == 2 and first.meta["age"] == 19
    assert first.meta["scp_codes"] == {"NORM": 80.0, "SBRAD": 0.0}
    assert first.meta["report"] == "sinusbradykardie sonst normales ekg"
    assert first.meta["validated_by_human"] is True
    folds = collections.Counter(r.meta["strat_fold"] for r in refs)
    assert folds == {1: 5, 2: 4, 3: 6, 4: 7, 5: 6, 6: 7, 7: 6, 8: 9, 9: 6, 10: 11}  # data README
    assert len({r.patient_id for r in refs}) == 66
    assert all(r.path.is_file() for r in refs)
    assert [r.record_id for r in refs] == sorted((r.record_id for r in refs), key=int)


def test_ptbxl_records100_option(ptbxl_dir: Path) -> None:
    refs = discover(ptbxl_dir, layout="ptbxl", ptbxl_fs=100)
    assert refs[0].path == ptbxl_dir / "records100/00000/00002_lr.hea"
    assert read_record(refs[0].path).fs == 100.0
    with pytest.raises(ConfigError, match="100 or 500"):
        discover(ptbxl_dir, ptbxl_fs=250)
    with pytest.raises(ConfigError, match="unknown layout"):
        discover(ptbxl_dir, layout="physionet")


def test_scp_codes_are_parsed_without_eval() -> None:
    assert parse_scp_codes("{'IMI': 35.0, 'SR': 0}") == {"IMI": 35.0, "SR": 0.0}
    assert parse_scp_codes("") == {}
    for bad in ("__import__('os').system('true')", "[1, 2]", "{'a': 'b'}", "{'a':"):
        with pytest.raises(DatasetError, match="scp_codes"):
            parse_scp_codes(bad, where="db.csv:7")


def test_ptbxl_index_with_missing_column(tmp_path: Path) -> None:
    (tmp_path / "ptbxl_database.csv").write_text("ecg_id,patient_id\n1,2\n")
    with pytest.raises(DatasetError, match=r"missing column.*filename_hr"):
        discover(tmp_path)


def test_ptbxl_row_without_file_is_kept_and_fails_at_read(tmp_path: Path) -> None:
    (tmp_path / "ptbxl_database.csv").write_text(
        "ecg_id,patient_id,scp_codes,strat_fold,filename_lr,filename_hr\n"
        "9,1.0,\"{'NORM': 100.0}\",3,records100/00000/00009_lr,records500/00000/00009_hr\n"
    )
    (ref,) = discover(tmp_path)
    assert ref.meta["strat_fold"] == 3
    with pytest.raises(RecordError) as exc:
        read_record(ref.path)
    assert exc.value.reason == "missing_file"


@pytest.mark.parametrize("with_index", [True, False], ids=["record_list", "folder_walk"])
def test_mimic_layout(tmp_path: Path, with_index: bool) -> None:
    ids = _mimic_tree(tmp_path, with_index=with_index)
    assert detect_layout(tmp_path) == "mimic"
    refs = discover(tmp_path)
    assert [(r.patient_id, r.record_id) for r in refs] == ids
    assert refs[0].path == tmp_path / "files/p1000/p10000032/s40689238/40689238.hea"
    if with_index:
        assert refs[0].meta["ecg_time"] == "2180-07-23 08:44:00"
    ecg = read_record(refs[0].path)
    raw = wfdb.rdrecord(str(refs[0].path.with_suffix(""))).p_signal.T
    assert ecg.leads == STANDARD_LEADS
    np.testing.assert_allclose(ecg.signal[4], raw[5], atol=1e-6)  # aVL came 6th in the file
    np.testing.assert_allclose(ecg.signal[5], raw[4], atol=1e-6)


def test_plain_directory_lists_records_and_orphan_signal_files(tmp_path: Path) -> None:
    sub = tmp_path / "b"
    sub.mkdir()
    x = np.zeros((100, 1))
    wfdb.wrsamp("r1", fs=500, units=["mV"], sig_name=["I"], p_signal=x, fmt=["16"], write_dir=str(sub))
    np.save(tmp_path / "a.npy", np.zeros((12, 10), np.float32))
    (tmp_path / "orphan.dat").write_bytes(b"\0" * 8)
    (tmp_path / "notes.txt").write_text("ignored")
    refs = discover(tmp_path)
    assert [r.record_id for r in refs] == ["a", "b/r1", "orphan"]
    assert [r.path.name for r in refs] == ["a.npy", "r1.hea", "orphan.dat"]
    with pytest.raises(RecordError) as exc:
        read_record(refs[2].path)
    assert exc.value.reason == "missing_header"


def test_single_file_source(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.zeros((12, 10), np.float32))
    (ref,) = discover(tmp_path / "one.npy")
    assert (ref.path, ref.record_id, ref.patient_id) == (tmp_path / "one.npy", "one", None)


def test_cinc_folder_is_a_plain_directory(full_shared_data, shared_data: Path) -> None:
    refs = discover(shared_data / "cinc2021")
    assert [r.record_id for r in refs] == ["E07500", "E07501", "HR06000", "HR06001", "JS20000", "JS20001"]
