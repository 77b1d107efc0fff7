"""ECG-QA loader on the real ECG-QA sample joined to the PTB-XL fixtures, plus MIMIC parsing and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgbyte.data.ecgqa import (
    KEPT_RECORD_META,
    answer_text,
    check_disjoint_patients,
    load_ecgqa,
    read_ecgqa_file,
)
from ecgbyte.data.sequences import EncodedEcg, SequenceBuilder, SequenceLayout, TruncationPolicy
from ecgbyte.errors import DatasetError
from ecgbyte.io import discover

LEAKY = (
    "report",
    "scp_codes",
    "static_noise",
    "baseline_drift",
    "burst_noise",
    "electrodes_problems",
    "heart_axis",
    "age",
    "sex",
)


@pytest.fixture(scope="module")
def ecgqa_dir(shared_data: Path) -> Path:
    return shared_data / "ecg-qa"


@pytest.fixture(scope="module")
def template(ecgqa_dir: Path, ptbxl_dir: Path):
    return load_ecgqa(ecgqa_dir, ptbxl_dir, variant="template")


def _item(rows, sample_id):
    [it] = [x for x in rows if x.meta["sample_id"] == sample_id]
    return it


def test_template_counts_and_exact_items(full_shared_data, template) -> None:
    splits, report = template
    assert {k: len(v) for k, v in splits.items()} == {"train": 132, "valid": 1, "test": 0}
    assert (report.n_read, report.n_loaded, report.skipped) == (133, 133, [])
    by_file = {}
    for it in splits["train"] + splits["valid"]:
        by_file.setdefault(
            Path(it.meta["source"]).relative_to(Path(it.meta["source"]).parents[1]).as_posix(), []
        ).append(it)
    assert {k: len(v) for k, v in by_file.items()} == {
        "train/120000.json": 110,
        "train/260000.json": 22,
        "valid/60000.json": 1,
    }
    first = splits["train"][0]
    assert first.item_id == "ptbxl/template/120032"
    assert first.question == "Does this ECG show static noise in lead aVL?"
    assert first.answer == "no" and first.question_type == "single-verify"
    assert [e.record_id for e in first.ecgs] == ["405"]
    assert first.ecgs[0].path.name == "00405_hr.hea"
    # comparison: both ECGs, JSON order kept; answer list sorted and joined
    comp = _item(splits["train"], 260488)
    assert [e.record_id for e in comp.ecgs] == ["292", "260"]
    assert comp.meta["patient_ids"] == ["6581", "5471"] and comp.patient_id == "6581"
    assert comp.answer == "p duration, pr interval, rr interval"
    assert comp.meta["answers"] == ["p duration", "rr interval", "pr interval"]
    assert all(len(it.ecgs) == 2 for it in by_file["train/260000.json"] + by_file["valid/60000.json"])
    assert all(len(it.ecgs) == 1 for it in by_file["train/120000.json"])
    assert sum(it.answer == "yes" for it in by_file["train/120000.json"]) == 38


def test_paraphrased_same_samples_other_wording(
    full_shared_data, template, ecgqa_dir: Path, ptbxl_dir: Path
) -> None:
    para, report = load_ecgqa(ecgqa_dir, ptbxl_dir, variant="paraphrased")
    assert report.n_loaded == 133
    t = {it.meta["sample_id"]: it for it in template[0]["train"]}
    p = {it.meta["sample_id"]: it for it in para["train"]}
    assert t.keys() == p.keys()
    assert all(t[k].answer == p[k].answer and t[k].ecg_keys() == p[k].ecg_keys() for k in t)
    assert p[120032].question == "Is there static noise in lead aVL as displayed in this ECG?"
    assert sum(t[k].question != p[k].question for k in t) > 100


def test_strat_fold_split_is_patient_disjoint(full_shared_data, ecgqa_dir: Path, ptbxl_dir: Path) -> None:
    splits, report = load_ecgqa(ecgqa_dir, ptbxl_dir, split_by="strat_fold")
    assert {k: len(v) for k, v in splits.items()} == {"train": 102, "valid": 6, "test": 17}
    assert report.counts == {"cross_split": 8} and report.n_loaded == 125
    fold_of = {r.record_id: r.meta["strat_fold"] for r in discover(ptbxl_dir)}
    want = {"train": set(range(1, 9)), "valid": {9}, "test": {10}}
    for name, items in splits.items():
        for it in items:
            assert {fold_of[k] for k in it.ecg_keys()} <= want[name]
    check_disjoint_patients(splits)
    patients = [{p for it in v for p in it.meta["patient_ids"]} for v in splits.values()]
    assert (
        not (patients[0] & patients[1])
        and not (patients[0] & patients[2])
        and not (patients[1] & patients[2])
    )


def test_leaky_metadata_never_reaches_the_model(template, ptbxl_dir: Path) -> None:
    splits, _ = template
    items = splits["train"] + splits["valid"]
    for it in items:
        for ref in it.ecgs:
            assert set(ref.meta) <= set(KEPT_RECORD_META)
        assert not set(it.meta) & set(LEAKY)
    # The built sequence is exactly bos, per ECG (start, ECG ids + offset, end), question, answer, eos:
    # nothing else (no report, no static_noise column) can be in it.
    layout = SequenceLayout(
        bos_id=1, eos_id=2, pad_id=0, ecg_start_id=3, ecg_end_id=4, ecg_offset=1000, ecg_vocab_size=26
    )
    builder = SequenceBuilder(
        layout,
        TruncationPolicy(),
        max_length=4096,
        answer_reserve=256,
        encode_text=lambda s: [ord(c) + 10 for c in s],
    )
    reports = {r.record_id: r.meta["report"] for r in discover(ptbxl_dir)}
    comp = _item(items, 260488)
    encs = [EncodedEcg(np.arange(i, i + 5, dtype=np.int64), np.array([0, 5]), ("II",)) for i in (0, 7)]
    ex = builder.build(encs, comp.question, comp.answer, item_id=comp.item_id)
    text = [ord(c) + 10 for c in comp.question]
    ans = [ord(c) + 10 for c in comp.answer]
    assert ex.input_ids == [1, 3, *range(1000, 1005), 4, 3, *range(1007, 1012), 4, *text, *ans, 2]
    decoded = "".join(chr(i - 10) for i in ex.input_ids if 10 <= i < 1000)
    assert decoded == comp.question + comp.answer
    for key in comp.ecg_keys():
        assert reports[key] not in decoded


def test_missing_record_is_counted_or_strict(full_shared_data, ecgqa_dir: Path, ptbxl_dir: Path) -> None:
    refs = [r for r in discover(ptbxl_dir) if r.record_id != "405"]
    raw = read_ecgqa_file(ecgqa_dir / "ptbxl/template/train/120000.json")
    n_405 = sum(405 in x["ecg_id"] for x in raw)
    assert n_405 == 5
    splits, report = load_ecgqa(ecgqa_dir, refs, splits=("train",))
    assert report.counts == {"missing_record": n_405} and report.n_read == 132
    assert len(splits["train"]) == 132 - n_405
    skip = report.skipped[0]
    assert skip.index == 0 and skip.item_id == "ptbxl/template/120032" and "405" in skip.detail
    assert skip.source.endswith("train/120000.json")
    assert "missing_record: 5" in report.summary()
    with pytest.raises(DatasetError, match=r"120000\.json: item 0 .*missing_record.*405"):
        load_ecgqa(ecgqa_dir, refs, splits=("train",), strict=True)


def _tree(tmp_path: Path, files: dict[str, object]) -> Path:
    root = tmp_path / "ecgqa" / "ptbxl"
    for rel, obj in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return tmp_path / "ecgqa"


def _raw(sample_id: int, ecg_ids: list[int], answer: list[str] | None = None) -> dict:
    return {
        "template_id": 26,
        "question_id": 1,
        "sample_id": sample_id,
        "question_type": "single-verify",
        "attribute_type": "noise",
        "question": "Does this ECG show static noise?",
        "answer": ["no"] if answer is None else answer,
        "ecg_id": ecg_ids,
        "attribute": ["static noise"],
    }


def test_malformed_files_name_file_and_item(tmp_path: Path, ptbxl_dir: Path) -> None:
    root = _tree(tmp_path / "a", {"template/train/1.json": '[{"sample_id": 1,'})
    with pytest.raises(DatasetError, match=r"1\.json: not valid JSON"):
        load_ecgqa(root, ptbxl_dir)
    bad = _raw(2, [2])
    del bad["answer"]
    root = _tree(tmp_path / "b", {"template/train/1.json": [_raw(1, [2]), bad]})
    with pytest.raises(DatasetError, match=r"1\.json: item 1: missing field 'answer'"):
        load_ecgqa(root, ptbxl_dir)
    root = _tree(tmp_path / "c", {"template/train/1.json": [_raw(1, [2, 8, 10])]})
    with pytest.raises(DatasetError, match=r"item 0: 'ecg_id' must be a list of 1 or 2 integers"):
        load_ecgqa(root, ptbxl_dir)
    root = _tree(tmp_path / "d", {"template/train/1.json": {"sample_id": 1}})
    with pytest.raises(DatasetError, match="top level is dict"):
        load_ecgqa(root, ptbxl_dir)
    root = _tree(
        tmp_path / "e", {"template/train/1.json": [_raw(1, [2])], "template/train/2.json": [_raw(1, [8])]}
    )
    with pytest.raises(DatasetError, match="sample_id 1 also in"):
        load_ecgqa(root, ptbxl_dir)
    with pytest.raises(DatasetError, match="no ECG-QA tree"):
        load_ecgqa(tmp_path / "nothing", ptbxl_dir)
    with pytest.raises(DatasetError, match="unknown ECG-QA variant"):
        load_ecgqa(root, ptbxl_dir, variant="free")


def test_empty_answer_skipped_or_strict(tmp_path: Path, ptbxl_dir: Path) -> None:
    root = _tree(
        tmp_path, {"template/train/1.json": [_raw(1, [2]), _raw(2, [8], []), _raw(3, [10], [" ", ""])]}
    )
    splits, report = load_ecgqa(root, ptbxl_dir)
    assert [it.item_id for it in splits["train"]] == ["ptbxl/template/1"]
    assert report.counts == {"empty_answer": 2} and [s.index for s in report.skipped] == [1, 2]
    with pytest.raises(DatasetError, match=r"item 1 \(ptbxl/template/2\): empty_answer"):
        load_ecgqa(root, ptbxl_dir, strict=True)


def test_split_checks(full_shared_data, tmp_path: Path, ptbxl_dir: Path) -> None:
    # ecg 2 is listed in valid_ecgs.tsv but its item sits in train/: counted split_mismatch
    root = _tree(
        tmp_path / "a",
        {
            "template/train/1.json": [_raw(1, [2]), _raw(2, [6])],
            "valid_ecgs.tsv": "0\t2\n",
            "train_ecgs.tsv": "1\t6\n",
        },
    )
    splits, report = load_ecgqa(root, ptbxl_dir)
    assert report.counts == {"split_mismatch": 1} and [it.item_id for it in splits["train"]] == [
        "ptbxl/template/2"
    ]
    # without split files, the same patient's ECG in train and test is caught by the patient check
    root = _tree(
        tmp_path / "b", {"template/train/1.json": [_raw(1, [2])], "template/test/1.json": [_raw(2, [2])]}
    )
    with pytest.raises(DatasetError, match="patient-level split violated"):
        load_ecgqa(root, ptbxl_dir)


def test_answer_text_rule() -> None:
    assert answer_text(["rr interval", "p duration", "rr interval", " "]) == "p duration, rr interval"
    assert answer_text(["yes"]) == "yes" and answer_text([]) == ""


def test_mimic_version_parses_and_counts_missing(full_shared_data, ecgqa_dir: Path, tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    raw = read_ecgqa_file(ecgqa_dir / "mimic-iv-ecg/template/test/270000.json")
    assert len(raw) == 50 and all(len(x["ecg_id"]) == 2 for x in raw)
    assert raw[0]["ecg_id"] == [43402541, 41006988]
    mimic = tmp_path / "mimic"
    sig = np.random.default_rng(0).normal(0, 0.1, size=(500, 12))
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    for subject, study in (("10000001", "43402541"), ("10000002", "41006988")):
        d = mimic / "files" / "p1000" / f"p{subject}" / f"s{study}"
        d.mkdir(parents=True)
        wfdb.wrsamp(
            study, fs=500, units=["mV"] * 12, sig_name=leads, p_signal=sig, fmt=["16"] * 12, write_dir=str(d)
        )
    splits, report = load_ecgqa(ecgqa_dir, mimic, version="mimic-iv-ecg")
    assert report.n_read == 50 and report.counts == {"missing_record": 49}
    [it] = splits["test"]
    assert it.item_id == "mimic-iv-ecg/template/270000" and it.answer == "none"
    assert it.meta["patient_ids"] == ["10000001", "10000002"] and it.ecg_keys() == ["43402541", "41006988"]
    with pytest.raises(DatasetError, match="strat_fold"):
        load_ecgqa(ecgqa_dir, mimic, version="mimic-iv-ecg", split_by="strat_fold")


def test_ecgqa_item_reads_its_record(template) -> None:
    from ecgbyte.data.items import load_ecg

    it = template[0]["train"][0]
    ecg = load_ecg(it.ecgs[0])
    assert ecg.signal.shape == (12, 5000) and ecg.fs == 500 and ecg.patient_id == it.patient_id


def test_copy_of_tree_loads_identically(tmp_path: Path, ecgqa_dir: Path, ptbxl_dir: Path, template) -> None:
    dst = tmp_path / "ptbxl"
    shutil.copytree(ecgqa_dir / "ptbxl", dst)
    splits, _ = load_ecgqa(dst, ptbxl_dir)  # a version directory works as well as the top one
    assert [it.item_id for it in splits["train"]] == [it.item_id for it in template[0]["train"]]


def test_registry_spec(ecgqa_dir: Path, ptbxl_dir: Path, template) -> None:
    from ecgbyte.data.ecgqa import splits_from_spec

    splits = splits_from_spec({"name": "ecgqa", "ecgqa_dir": str(ecgqa_dir), "records": str(ptbxl_dir)})
    assert [it.item_id for it in splits["train"]] == [it.item_id for it in template[0]["train"]]
    with pytest.raises(DatasetError, match="needs 'records'"):
        splits_from_spec({"name": "ecgqa", "ecgqa_dir": str(ecgqa_dir)})
