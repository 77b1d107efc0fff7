"""PTB-XL report generation on the real PTB-XL fixtures: targets, strat_fold splits, skips."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ecgbyte.data.ecgqa import KEPT_RECORD_META
from ecgbyte.data.ptbxl_reports import REPORT_INSTRUCTION, load_ptbxl_reports, report_items
from ecgbyte.errors import DatasetError
from ecgbyte.io import discover


def test_reports_split_by_strat_fold(full_shared_data, ptbxl_dir: Path) -> None:
    splits, report = load_ptbxl_reports(ptbxl_dir)
    # fixture strat_fold counts: 1..8 -> 5+4+6+7+6+7+6+9 = 50, 9 -> 6, 10 -> 11
    assert {k: len(v) for k, v in splits.items()} == {"train": 50, "valid": 6, "test": 11}
    assert (report.n_read, report.n_loaded, report.skipped) == (67, 67, [])
    first = splits["train"][0]
    assert first.item_id == "ptbxl/report/2" and first.patient_id == "13243"
    assert first.question == REPORT_INSTRUCTION
    assert first.answer == "sinusbradykardie sonst normales ekg"
    assert first.ecgs[0].path.name == "00002_hr.hea" and set(first.ecgs[0].meta) <= set(KEPT_RECORD_META)
    by_id = {it.item_id: it for v in splits.values() for it in v}
    # whitespace runs inside PTB-XL reports collapse to one space
    assert (
        by_id["ptbxl/report/8"].answer
        == "sinusrhythmus linkstyp qrs(t) abnormal inferiorer infarkt alter unbest."
    )
    assert by_id["ptbxl/report/8"] in splits["valid"]
    for name, folds in (("train", set(range(1, 9))), ("valid", {9}), ("test", {10})):
        assert {it.meta["fold"] for it in splits[name]} <= folds
        assert all("scp_codes" not in it.meta and "report" not in it.meta for it in splits[name])
    pats = [{it.patient_id for it in v} for v in splits.values()]
    assert not (pats[0] & pats[1] or pats[0] & pats[2] or pats[1] & pats[2])


def test_100hz_and_custom_instruction(full_shared_data, ptbxl_dir: Path) -> None:
    splits, _ = load_ptbxl_reports(
        ptbxl_dir, ptbxl_fs=100, instruction="Describe the ECG.", folds={"train": range(1, 11)}
    )
    assert list(splits) == ["train"] and len(splits["train"]) == 67
    assert splits["train"][0].ecgs[0].path.name == "00002_lr.hea"
    assert splits["train"][0].question == "Describe the ECG."
    with pytest.raises(DatasetError, match="instruction"):
        load_ptbxl_reports(ptbxl_dir, instruction="  ")


def test_bad_rows_are_counted_or_strict(full_shared_data, ptbxl_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "ptbxl"
    shutil.copytree(ptbxl_dir, root, ignore=shutil.ignore_patterns("records100"))
    rows = list(csv.DictReader((root / "ptbxl_database.csv").open(newline="", encoding="utf-8")))
    rows[1]["report"] = "   "  # ecg_id 6 -> empty_report
    with (root / "ptbxl_database.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (root / "records500/00000/00010_hr.hea").unlink()  # ecg_id 10 -> missing_record
    splits, report = load_ptbxl_reports(root, folds={"train": range(1, 9), "test": (10,)})
    assert report.counts == {"empty_report": 1, "missing_record": 1, "unused_fold": 5}  # fold 9 minus ecg 10
    assert report.n_read == 67 and report.n_loaded == 67 - 7
    assert sum(len(v) for v in splits.values()) == report.n_loaded
    assert {s.item_id for s in report.skipped if s.reason != "unused_fold"} == {
        "ptbxl/report/6",
        "ptbxl/report/10",
    }
    with pytest.raises(DatasetError, match=r"item 1 \(ptbxl/report/6\): empty_report"):
        load_ptbxl_reports(root, strict=True)


def test_report_items_from_refs(full_shared_data, ptbxl_dir: Path) -> None:
    refs = discover(ptbxl_dir)[:3]
    items, report = report_items(refs)
    assert [it.item_id for it in items] == ["ptbxl/report/2", "ptbxl/report/6", "ptbxl/report/8"]
    assert report.summary() == "ptbxl_reports: 3 read, 3 loaded, 0 skipped"


def test_registry_spec(full_shared_data, ptbxl_dir: Path) -> None:
    from ecgbyte.data.ptbxl_reports import splits_from_spec

    splits = splits_from_spec({"name": "ptbxl_reports", "ptbxl_dir": str(ptbxl_dir)})
    assert {k: len(v) for k, v in splits.items()} == {"train": 50, "valid": 6, "test": 11}
    with pytest.raises(DatasetError, match="needs 'ptbxl_dir'"):
        splits_from_spec({"name": "ptbxl_reports"})
