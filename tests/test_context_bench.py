"""The pure parts of benchmarks/context_bench.py: groups, the paired two-level bootstrap, the verdict,
the segment majority vote, the Markdown table (the full run is a benchmark, not a test)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import context_bench as cb
from ecgbyte.data.items import QAItem
from ecgbyte.data.synthetic_qa import ALL_TYPES, build_synthetic_qa, synth_config_for
from ecgbyte.signal.synth import synthesize


@pytest.fixture(scope="module")
def items():
    raw = synthesize(40, seed=0, fs=100.0, config=synth_config_for(morphology=True))
    return build_synthetic_qa(raw, seed=0, question_types=ALL_TYPES)


def test_groups_split_late_from_early(items):
    g = cb.groups_of(items)
    assert g["all"].size == 240
    assert g["late"].size + g["early"].size == 240
    assert set(g["late"]) == {i for i, it in enumerate(items) if it.meta["late_evidence"]}
    assert g["rate"].size == 40 and "rate/late" not in g  # rate never late
    assert set(g["ectopic/late"]) | set(g["ectopic/early"]) == set(g["ectopic"])
    assert all(
        items[i].meta["question_type"] == "ectopic" and items[i].meta["late_evidence"]
        for i in g["ectopic/late"]
    )


def _patients(items):
    return [it.patient_id for it in items]


def test_a_real_late_advantage_is_detected_and_its_interval_excludes_0(items):
    groups = cb.groups_of(items)
    late = np.array([it.meta["late_evidence"] for it in items])
    rng = np.random.default_rng(0)
    base = rng.random((3, len(items))) < 0.6  # 60% everywhere
    better = base.copy()
    better[:, late] = rng.random((3, late.sum())) < 0.95  # the target arm: 95% on late items
    out = cb.analyse({"a": base, "compact_whole": better}, _patients(items), groups, n_boot=500)
    d = out["difference"]["compact_whole - a"]
    assert d["late"]["low"] > 0.2 and d["late"]["mean"] == pytest.approx(
        better[:, late].mean() - base[:, late].mean()
    )
    # identical answers early: no difference, and the interval (seeds drawn per arm) straddles 0
    assert d["early"]["mean"] == 0.0 and d["early"]["low"] < 0 < d["early"]["high"]
    assert out["verdict"]["met"] is True
    acc = out["accuracy"]["a"]["all"]
    assert acc["mean"] == pytest.approx(base.mean()) and acc["low"] < acc["mean"] < acc["high"]


def test_no_difference_or_worse_early_is_not_met(items):
    groups = cb.groups_of(items)
    late = np.array([it.meta["late_evidence"] for it in items])
    rng = np.random.default_rng(1)
    a = rng.random((3, len(items))) < 0.7
    same = cb.analyse({"a": a, "compact_whole": a.copy()}, _patients(items), groups, n_boot=300)
    assert same["verdict"]["met"] is False and same["verdict"]["late_margin_excludes_0"] is False
    worse_early = a.copy()
    worse_early[:, late] = True
    worse_early[:, ~late] = False
    out = cb.analyse({"a": a, "compact_whole": worse_early}, _patients(items), groups, n_boot=300)
    assert out["verdict"]["late_margin_excludes_0"] is True and out["verdict"]["early_not_worse"] is False
    assert out["verdict"]["met"] is False and "Target not met" in out["verdict"]["statement"]


def test_seed_spread_widens_the_interval(items):
    groups = {"all": np.arange(len(items))}
    steady = np.tile(np.arange(len(items)) % 2 == 0, (3, 1))
    spread = steady.copy()
    spread[0] = True  # one seed far better
    spread[1] = False  # one far worse
    w_steady = cb.analyse({"x": steady}, _patients(items), groups, n_boot=400)["accuracy"]["x"]["all"]
    w_spread = cb.analyse({"x": spread}, _patients(items), groups, n_boot=400)["accuracy"]["x"]["all"]
    assert (w_spread["high"] - w_spread["low"]) > 2 * (w_steady["high"] - w_steady["low"])


def test_bad_shape_is_refused(items):
    with pytest.raises(ValueError, match="must be"):
        cb.analyse({"x": np.zeros((3, 5), bool)}, _patients(items), cb.groups_of(items))


def test_majority_vote_over_segments_is_per_parent():
    rows = [
        {"item_id": "r1/ectopic#0", "prediction": "no"},
        {"item_id": "r2/ectopic#1", "prediction": "yes"},
        {"item_id": "r1/ectopic#2", "prediction": "yes"},
        {"item_id": "r1/ectopic#1", "prediction": "yes"},
        {"item_id": "r2/ectopic#0", "prediction": "no"},
    ]
    assert cb.majority_by_parent(rows, ["r1/ectopic", "r2/ectopic"]) == {
        "r1/ectopic": "yes",
        "r2/ectopic": "no",
    }


def test_markdown_and_plot_of_a_hand_built_report(items, tmp_path):
    groups = cb.groups_of(items)
    rng = np.random.default_rng(2)
    correct = {arm: rng.random((3, len(items))) < 0.5 for arm in cb.ARMS}
    arm_stats = {
        "tokens_per_ecg_mean": 2300.0,
        "tokens_per_ecg_p95": 3100.0,
        "prompt_ecg_tokens_mean": 980.0,
        "seconds_seen_mean": 3.2,
        "tokenizer_s_mean": 2.0,
        "train_s_mean": 100.0,
        "eval_s_mean": 10.0,
    }
    report = {
        "plan": "default",
        "seeds": [0, 1, 2],
        "n_test_items": len(items),
        "n_test_patients": len(set(_patients(items))),
        "analysis": cb.analyse(correct, _patients(items), groups, n_boot=200),
        "arms": {arm: arm_stats for arm in cb.ARMS},
        "command": "python benchmarks/context_bench.py",
        "machine": "test",
        "total_s": 60.0,
    }
    text = cb.markdown(report)
    assert (
        "| late |" in text and "(c) compact, whole ECG" in text and "compact_whole - paper_segments" in text
    )
    assert "2300, 3100" in text
    cb.plot(report, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_plans_keep_the_same_context_and_three_seeds():
    assert cb.CONTEXT == 1024
    for plan in cb.PLANS.values():
        assert len(plan["seeds"]) >= 3
    assert cb.PLANS["quick"]["steps"] < cb.PLANS["default"]["steps"] < cb.PLANS["scale"]["steps"]
    assert {a["preset"] for a in cb.ARMS.values()} == {"paper", "compact"}


def test_item_fixture_is_real(items):
    assert isinstance(items[0], QAItem) and items[0].ecgs[0].signal.shape == (12, 1000)


def test_groups_from_saved_dicts_match_items_and_very_late_group(items):
    saved = [
        {
            "question_type": it.meta["question_type"],
            "late": it.meta["late_evidence"],
            "evidence_after_s": it.meta["evidence_after_s"],
        }
        for it in items
    ]
    a, b = cb.groups_of(items), cb.groups_of(saved)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    very = a["late>=6s"]
    assert very.size and all(items[i].meta["evidence_after_s"] >= 6.0 for i in very)
    assert set(very) <= set(a["late"])


def test_reanalyse_a_saved_report(items, tmp_path):
    import json

    rng = np.random.default_rng(3)
    runs = [
        {"arm": arm, "seed": s, "correct": (rng.random(len(items)) < 0.5).tolist()}
        for s in range(3)
        for arm in ("paper_truncated", "compact_whole")
    ]
    stats = dict.fromkeys(
        ("tokens_per_ecg_mean", "tokens_per_ecg_p95", "prompt_ecg_tokens_mean", "seconds_seen_mean"), 1.0
    )
    stats.update(tokenizer_s_mean=1.0, train_s_mean=1.0, eval_s_mean=1.0)
    report = {
        "plan": "default",
        "seeds": [0, 1, 2],
        "n_test_items": len(items),
        "n_test_patients": 3,
        "runs": runs,
        "arms": {"paper_truncated": stats, "compact_whole": stats},
        "test_items": [
            {"patient_id": it.patient_id, "question_type": it.question_type, **it.meta} for it in items
        ],
        "command": "x",
        "machine": "y",
        "total_s": 1.0,
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert cb.main(["--analyse", str(path)]) == 0
    again = json.loads(path.read_text())
    assert list(again["analysis"]["difference"]) == ["compact_whole - paper_truncated"]
    assert (tmp_path / "r.md").read_text().startswith("## How much ECG")
    assert (tmp_path / "r.png").is_file()
