"""Patient-level splits, fold honouring, and synthetic QA built from generator labels."""

from __future__ import annotations

import numpy as np
import pytest

from ecgbyte.data import QAItem, build_synthetic_qa, check_disjoint, split_by_fold, split_by_patient
from ecgbyte.data.synthetic_qa import QUESTIONS, rate_class
from ecgbyte.ecg import Ecg
from ecgbyte.errors import DatasetError


def item(i: int, patient: str, **meta) -> QAItem:
    return QAItem(f"i{i}", patient, (), "q?", "a", meta)


def test_split_by_patient_is_disjoint_seeded_and_complete() -> None:
    items = [item(i, f"p{i % 20}") for i in range(60)]
    a = split_by_patient(items, fractions=(0.6, 0.2, 0.2), seed=3)
    b = split_by_patient(items, fractions=(0.6, 0.2, 0.2), seed=3)
    assert {k: [x.item_id for x in v] for k, v in a.items()} == {
        k: [x.item_id for x in v] for k, v in b.items()
    }
    assert sum(len(v) for v in a.values()) == 60
    pats = {k: {x.patient_id for x in v} for k, v in a.items()}
    assert [len(pats[k]) for k in ("train", "valid", "test")] == [12, 4, 4]
    assert not (pats["train"] & pats["test"] or pats["train"] & pats["valid"] or pats["valid"] & pats["test"])
    c = split_by_patient(items, fractions=(0.6, 0.2, 0.2), seed=4)
    assert {x.patient_id for x in c["test"]} != pats["test"]


def test_check_disjoint_names_the_leaking_patient() -> None:
    with pytest.raises(DatasetError, match=r"p7 \(train and test\)"):
        check_disjoint({"train": [item(0, "p7")], "test": [item(1, "p7")]})


def test_split_by_fold_honours_ptbxl_folds() -> None:
    items = [item(i, f"p{i}", fold=i % 10 + 1) for i in range(30)]
    s = split_by_fold(items)
    assert [len(s[k]) for k in ("train", "valid", "test")] == [24, 3, 3]
    assert all(x.meta["fold"] == 10 for x in s["test"]) and all(x.meta["fold"] == 9 for x in s["valid"])
    custom = split_by_fold(items, folds={"train": range(1, 10), "test": (10,)})
    assert set(custom) == {"train", "test"} and len(custom["test"]) == 3


def test_split_by_fold_errors() -> None:
    with pytest.raises(DatasetError, match="no meta"):
        split_by_fold([item(0, "p0")])
    with pytest.raises(DatasetError, match="in no split"):
        split_by_fold([item(0, "p0", fold=11)])
    with pytest.raises(DatasetError, match="two splits"):  # one patient in folds 1 and 10
        split_by_fold([item(0, "p0", fold=1), item(1, "p0", fold=10)])
    with pytest.raises(DatasetError, match="fractions"):
        split_by_patient([item(0, "p0")], fractions=(0.5, 0.5, 0.5), seed=0)


def test_rate_class_boundaries() -> None:
    assert [rate_class(x) for x in (59.9, 60.0, 100.0, 100.1)] == [
        "bradycardia",
        "normal",
        "normal",
        "tachycardia",
    ]


def test_synthetic_qa_from_labels() -> None:
    def ecg(i: int, labels: dict) -> Ecg:
        return Ecg(
            np.zeros((1, 10), np.float32),
            fs=10.0,
            leads=("II",),
            record_id=f"r{i}",
            patient_id=f"p{i}",
            meta={"labels": labels},
        )

    ecgs = [
        ecg(0, {"heart_rate_bpm": 45.0, "rate_class": "bradycardia", "rhythm": "sinus"}),
        ecg(1, {"heart_rate_bpm": 130.0, "rhythm": "atrial fibrillation"}),
    ]
    items = build_synthetic_qa(ecgs, seed=0)
    assert [(x.item_id, x.answer) for x in items] == [
        ("r0/rate", "bradycardia"),
        ("r0/rhythm", "sinus rhythm"),
        ("r1/rate", "tachycardia"),
        ("r1/rhythm", "atrial fibrillation"),
    ]
    assert all(x.question in QUESTIONS[x.question_type] for x in items)
    assert [x.question for x in items] == [x.question for x in build_synthetic_qa(ecgs, seed=0)]
    with pytest.raises(DatasetError, match="labels"):
        build_synthetic_qa([ecg(2, {})], seed=0)
    with pytest.raises(DatasetError, match="unknown synthetic question"):
        build_synthetic_qa(ecgs, seed=0, question_types=("axis",))


def test_synthetic_qa_on_the_real_generator() -> None:
    from ecgbyte.signal import synth

    ecgs = synth.synthesize(6, seed=1, fs=100.0, duration_s=4.0)
    items = build_synthetic_qa(ecgs, seed=1)
    assert len(items) == 12
    for it in items:
        labels = it.ecgs[0].meta["labels"]
        if it.question_type == "rate":
            assert it.answer == labels["rate_class"]
        else:
            assert it.answer == (
                "atrial fibrillation" if labels["rhythm"] == "atrial fibrillation" else "sinus rhythm"
            )
        assert it.patient_id == it.ecgs[0].patient_id
