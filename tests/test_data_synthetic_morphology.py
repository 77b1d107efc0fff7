"""Synthetic morphology / late-finding questions and free-text reports: answers from labels, evidence times,
balance, paraphrases, registry names."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ecgbyte.data.registry import SYNTHETIC_DATASETS, load_splits
from ecgbyte.data.synthetic_qa import (
    ALL_TYPES,
    LATE_EVIDENCE_S,
    MORPHOLOGY_TYPES,
    build_synthetic_qa,
    synthetic_ecgs,
    synthetic_splits,
)
from ecgbyte.data.synthetic_report import (
    REPORT_QUESTION,
    build_synthetic_reports,
    synthetic_report,
    synthetic_report_splits,
)
from ecgbyte.errors import DatasetError
from ecgbyte.eval.summary import default_primary


@pytest.fixture(scope="module")
def ecgs():
    return synthetic_ecgs(90, seed=3, target_fs=50.0, leads=("II", "V1"), morphology=True)


def test_answers_follow_the_labels_and_are_balanced(ecgs):
    items = build_synthetic_qa(ecgs, seed=0, question_types=ALL_TYPES)
    assert len(items) == 90 * 6
    by = {qt: [it for it in items if it.question_type == qt] for qt in ALL_TYPES}
    for it in by["qrs"]:
        lab = it.ecgs[0].meta["labels"]
        assert it.answer == ("wide" if lab["qrs_duration_ms"] >= 120 else "normal")
    for it in by["st"]:
        lab = it.ecgs[0].meta["labels"]
        mv = lab["st_deviation_mv"]
        assert it.answer == ("none" if mv == 0 else "elevation" if mv > 0 else "depression")
    for it in by["ectopic"]:
        lab = it.ecgs[0].meta["labels"]
        assert it.answer == ("yes" if lab["ectopic_beat_s"] is not None else "no")
    for it in by["rhythm_change"]:
        lab = it.ecgs[0].meta["labels"]
        assert it.answer == ("yes" if lab["af_onset_s"] is not None else "no")
        if it.answer == "yes":
            assert lab["rhythm"] == "atrial fibrillation"
    assert Counter(it.answer for it in by["ectopic"]) == {"yes": 45, "no": 45}
    assert Counter(it.answer for it in by["st"]) == {"none": 30, "elevation": 30, "depression": 30}
    assert Counter(it.answer for it in by["rhythm_change"]) == {"yes": 36, "no": 54}  # 80% of 45 AF
    wide = sum(it.answer == "wide" for it in by["qrs"])
    assert 20 <= wide <= 70  # per patient, p = 0.5
    for qt in MORPHOLOGY_TYPES:
        assert len({it.question for it in by[qt]}) >= 2  # paraphrases


def test_evidence_times_split_late_from_early(ecgs):
    items = build_synthetic_qa(ecgs, seed=0, question_types=ALL_TYPES)
    for it in items:
        lab, meta = it.ecgs[0].meta["labels"], it.meta
        assert meta["late_evidence"] == (meta["evidence_after_s"] >= LATE_EVIDENCE_S)
        if it.question_type in ("rate", "qrs", "st"):
            assert meta["evidence_after_s"] == 0.0
        elif it.question_type == "ectopic":
            assert meta["evidence_after_s"] == (lab["ectopic_beat_s"] if it.answer == "yes" else 10.0)
        elif it.question_type == "rhythm_change":
            assert meta["evidence_after_s"] == (lab["af_onset_s"] if it.answer == "yes" else 10.0)
        elif it.question_type == "rhythm":
            assert meta["evidence_after_s"] == (lab["af_onset_s"] if lab["paroxysmal_af"] else 0.0)
    late = Counter(it.question_type for it in items if it.meta["late_evidence"])
    assert late["ectopic"] >= 70 and late["rhythm_change"] >= 70 and late["rate"] == 0
    positives = [it for it in items if it.question_type == "ectopic" and it.answer == "yes"]
    assert 0.6 <= np.mean([it.meta["late_evidence"] for it in positives]) <= 0.9


def test_default_question_types_unchanged():
    """Callers that ask nothing new get exactly the rate + rhythm dataset (same ECGs, no findings)."""
    splits = synthetic_splits(30, seed=1)
    items = splits["train"] + splits["test"]
    assert {it.question_type for it in items} == {"rate", "rhythm"} and len(items) == 60
    for it in items:
        lab = it.ecgs[0].meta["labels"]
        assert not lab["ectopic_beat"] and not lab["paroxysmal_af"]
        assert it.meta["evidence_after_s"] == 0.0 and it.meta["late_evidence"] is False
    via_registry = load_splits({"name": "synthetic", "n_ecgs": 30, "seed": 1, "leads": ["II"]})
    assert [(i.item_id, i.question, i.answer) for i in via_registry["test"]] == [
        (i.item_id, i.question, i.answer) for i in splits["test"]
    ]
    np.testing.assert_array_equal(via_registry["test"][0].ecgs[0].signal, splits["test"][0].ecgs[0].signal)


def test_registry_question_types_opt_in():
    splits = load_splits({"name": "synthetic", "n_ecgs": 20, "seed": 2, "question_types": ["ectopic", "st"]})
    items = splits["train"] + splits["test"]
    assert Counter(it.question_type for it in items) == {"ectopic": 20, "st": 20}
    with pytest.raises(DatasetError, match="unknown synthetic question type"):
        load_splits({"name": "synthetic", "n_ecgs": 20, "seed": 2, "question_types": ["axis"]})


def test_missing_finding_label_is_a_clear_error(ecgs):
    old = ecgs[0].replace(
        meta={"labels": {k: v for k, v in ecgs[0].meta["labels"].items() if k != "ectopic_beat"}}
    )
    with pytest.raises(DatasetError, match="ectopic_beat"):
        build_synthetic_qa([old], seed=0, question_types=("ectopic",))


def _mentions_every_finding(report: str, lab: dict) -> None:
    low = report.lower()
    assert f"{round(lab['heart_rate_bpm'])} bpm" in report
    assert ("fibrillation" in low) == (lab["rhythm"] == "atrial fibrillation")
    assert ("sinus" in low) == (lab["rhythm"] == "sinus" or lab["paroxysmal_af"])
    if lab["rate_class"] != "normal":
        assert lab["rate_class"] in low
    assert ("wide" in low) == lab["wide_qrs"]
    assert ("elevation" in low and "no st elevation" not in low) == (lab["st_deviation"] == "elevation")
    assert ("depression" in low and "elevation or depression" not in low) == (
        lab["st_deviation"] == "depression"
    )
    if lab["ectopic_beat"]:
        assert f"at {lab['ectopic_beat_s']:.1f} s" in report
        assert "premature ventricular" in low or "ventricular ectopic" in low
    else:
        assert "premature ventricular" not in low and ("no ectop" in low or "no premature" in low)
    if lab["paroxysmal_af"]:
        assert f"{lab['af_onset_s']:.1f} s" in report
    assert report.count(".") >= 4


def test_report_mentions_every_finding_and_phrasing_varies(ecgs):
    items = build_synthetic_reports(ecgs, seed=0)
    assert len(items) == 90 and all(it.question == REPORT_QUESTION for it in items)
    for it in items:
        _mentions_every_finding(it.answer, it.ecgs[0].meta["labels"])
        assert it.question_type == "report"
    assert len({it.answer for it in items}) == 90
    sinus_normal = [
        it.answer.split(".")[0] for it in items if it.answer.startswith(("Sinus rhythm", "Normal sinus"))
    ]
    openers = {s.split(" at ")[0].split(",")[0] for s in sinus_normal}
    assert len(openers) >= 2, openers
    for key in ("No ST deviation", "ST segments isoelectric", "No ST elevation or depression"):
        assert any(key in it.answer for it in items)  # every ST-none paraphrase is drawn
    assert build_synthetic_reports(ecgs, seed=0)[5].answer == items[5].answer
    assert [it.answer for it in build_synthetic_reports(ecgs, seed=1)] != [it.answer for it in items]


def test_report_function_is_pure_and_seeded():
    lab = {
        "heart_rate_bpm": 71.6,
        "rate_class": "normal",
        "rhythm": "sinus",
        "wide_qrs": False,
        "qrs_duration_ms": 92.0,
        "st_deviation": "elevation",
        "st_deviation_mv": 0.21,
        "ectopic_beat": True,
        "ectopic_beat_s": 6.43,
    }
    reports = {synthetic_report(lab, np.random.default_rng(s)) for s in range(40)}
    assert len(reports) >= 10
    for r in reports:
        _mentions_every_finding(r, {**lab, "paroxysmal_af": False})
        assert "6.4 s" in r and "72 bpm" in r
    assert synthetic_report(lab, np.random.default_rng(3)) == synthetic_report(lab, np.random.default_rng(3))
    with pytest.raises(DatasetError, match="st_deviation"):
        synthetic_report({k: v for k, v in lab.items() if k != "st_deviation"}, np.random.default_rng(0))
    with pytest.raises(DatasetError, match="rhythm"):
        synthetic_report({**lab, "rhythm": "flutter"}, np.random.default_rng(0))


def test_report_dataset_through_the_registry():
    assert "synthetic_report" in SYNTHETIC_DATASETS
    spec = {"name": "synthetic_report", "n_ecgs": 24, "seed": 5, "leads": ["II"]}
    splits = load_splits(spec)
    direct = synthetic_report_splits(24, seed=5, leads=("II",))
    assert [i.answer for i in splits["train"]] == [i.answer for i in direct["train"]]
    items = splits["train"] + splits["test"]
    assert len(items) == 24 and {i.question for i in items} == {REPORT_QUESTION}
    train_p = {i.patient_id for i in splits["train"]}
    assert not train_p & {i.patient_id for i in splits["test"]}
    assert default_primary("synthetic_report", [i.answer for i in items])[0] == "rougeL"
    assert np.mean([len(i.answer.split()) for i in items]) > 15
