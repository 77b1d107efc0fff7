"""The summary: intervals over runs or sampling seeds, the primary metric, the interval-based flag."""

from __future__ import annotations

import pytest

from ecgbyte.eval.summary import (
    FREE_TEXT_WORDS,
    default_primary,
    drop_hurts,
    mean_over_seeds,
    summarize_evaluation,
)

T2 = 4.302653  # t_{0.975, 2}: three values
T1 = 12.706205  # t_{0.975, 1}: two values


def _scores(acc: float) -> dict:
    return {"accuracy": acc, "rougeL": acc / 2, "bleu4": None}


def _seeded_run(base: list[float], no_signal: list[float]) -> dict:
    """One run sampled with one seed per value: baseline and no-signal accuracy per seed."""
    by_seed = [
        {"seed": s, "scores": _scores(b), "ablations": {"no_signal": _scores(a)}}
        for s, b, a in zip((0, 42, 123), base, no_signal)
    ]
    return {
        "n": 30,
        "labels": {},
        "notes": {},
        "warnings": [],
        "by_seed": by_seed,
        **mean_over_seeds(by_seed, ("no_signal",)),
    }


def test_mean_over_seeds() -> None:
    run = _seeded_run([60.0, 70.0, 80.0], [50.0, 50.0, 50.0])
    assert run["scores"] == {"accuracy": 70.0, "rougeL": 35.0, "bleu4": None}
    assert run["ablations"] == {"no_signal": {"accuracy": 50.0, "rougeL": 25.0, "bleu4": None}}


def test_a_big_mean_drop_whose_seed_interval_includes_0_is_no_evidence() -> None:
    """Drops over three sampling seeds 10, 20, 30: mean 20 (the old 2-point rule: "uses the ECG"),
    s = 10, half-width 4.302653 * 10 / sqrt(3) = 24.84, interval [-4.84, 44.84]: it includes 0,
    so there is no evidence that removing the ECG hurts, and the flag fires."""
    s = summarize_evaluation([_seeded_run([60.0, 70.0, 80.0], [50.0] * 3)], ("no_signal",), "accuracy", 2.0)
    assert s["interval"] == {
        "method": "t",
        "label": "95% t-interval over 3 sampling seeds (1 run)",
        "n_seeds": 3,
    }
    drop = s["ablations"]["no_signal"]["drop"]["accuracy"]
    assert drop["mean"] == pytest.approx(20.0) and drop["half_width"] == pytest.approx(
        T2 * 10 / 3**0.5, rel=1e-6
    )
    assert drop["low"] == pytest.approx(-4.84, abs=0.005)
    assert s["ignores_ecg"] is True and s["flag_rule"] == "interval"
    assert s["flag"] == (
        "MODEL IGNORES THE ECG: every drop's 95% t-interval over 3 sampling seeds (1 run) includes 0 or "
        "lies below it (drops of accuracy: no_signal +20.0 ± 24.8 points); the largest is no signal "
        "(ECG tokens removed), accuracy 50.0 (drop +20.0 ± 24.8 points)."
    )
    # the same mean drop with steadier seeds (18, 20, 22: s = 2, half-width 4.97): it hurts
    s = summarize_evaluation([_seeded_run([68.0, 70.0, 72.0], [50.0] * 3)], ("no_signal",), "accuracy", 2.0)
    assert s["ignores_ecg"] is False
    assert s["flag"] == (
        "The model uses the ECG: accuracy is 70.0 with the ECG; no signal (ECG tokens removed) hurts "
        "most, accuracy 50.0 (drop +20.0 ± 5.0 points). Drops: no_signal +20.0 ± 5.0 points."
    )


def test_a_small_drop_with_its_interval_above_0_counts() -> None:
    """Drops 1.0, 1.5, 2.0 (mean 1.5 < the old 2 points): s = 0.5, half-width 1.242, interval
    [0.258, 2.742], above 0: the model uses the ECG (the old threshold rule said it ignores it)."""
    s = summarize_evaluation([_seeded_run([51.0, 51.5, 52.0], [50.0] * 3)], ("no_signal",), "accuracy", 2.0)
    drop = s["ablations"]["no_signal"]["drop"]["accuracy"]
    assert drop["low"] == pytest.approx(1.5 - T2 * 0.5 / 3**0.5, rel=1e-6)
    assert s["ignores_ecg"] is False and "hurts most" in s["flag"]


def test_several_runs_each_sampled_with_several_seeds() -> None:
    """Two runs: each run's score is its mean over seeds (70 and 74), the interval is over the
    runs: mean 72, s = 2.828, half-width 12.706 * 2.828 / sqrt(2) = 25.41."""
    runs = [_seeded_run([60.0, 70.0, 80.0], [50.0] * 3), _seeded_run([64.0, 74.0, 84.0], [50.0] * 3)]
    s = summarize_evaluation(runs, ("no_signal",), "accuracy", 2.0)
    assert s["interval"] == {
        "method": "t",
        "label": "95% t-interval over 2 runs (each the mean of 3 sampling seeds)",
    }
    acc = s["metrics"]["accuracy"]
    assert acc["mean"] == pytest.approx(72.0) and acc["half_width"] == pytest.approx(T1 * 2.0, rel=1e-6)


def test_flag_falls_back_to_the_threshold_without_an_interval_and_says_so() -> None:
    """One run, one decoding, no bootstrap: no interval, so the 2-point rule decides."""
    run = {
        "n": 10,
        "labels": {},
        "notes": {},
        "warnings": [],
        "scores": {"accuracy": 90.0},
        "ablations": {"no_signal": {"accuracy": 89.0}, "noise": {"accuracy": 91.0}},
    }
    s = summarize_evaluation([run], ("no_signal", "noise"), "accuracy", 2.0)
    assert s["ignores_ecg"] is True and s["flag_rule"] == "threshold"
    assert s["flag"] == (
        "MODEL IGNORES THE ECG: no ablation lowers accuracy by 2 points or more (drops of accuracy: "
        "no_signal +1.0, noise -1.0 points); the largest is no signal (ECG tokens removed), accuracy "
        "89.0 (drop +1.0 points). No interval (single run, no interval): a drop under 2 points counts "
        "as no effect."
    )


def test_drop_hurts() -> None:
    boot = {"mean": 1.0, "low": 0.1, "high": 2.0, "half_width": None}
    assert drop_hurts(boot, 2.0) is True  # interval above 0, though the mean is under 2
    assert drop_hurts({**boot, "low": 0.0}, 2.0) is False  # touching 0 is no evidence
    assert drop_hurts({"mean": 5.0, "low": None, "half_width": None}, 2.0) is True  # no interval
    assert drop_hurts({"mean": 1.9, "low": None, "half_width": None}, 2.0) is False
    assert drop_hurts(None, 2.0) is None


@pytest.mark.parametrize(
    ("dataset", "refs", "primary"),
    [
        ("ptbxl_reports", ["sinus rhythm"], "rougeL"),  # by name, whatever the lengths
        ("ecgchat", ["yes"], "rougeL"),
        ("ecgqa", ["a b c d e f g h i j"], "accuracy"),
        ("synthetic", ["bradycardia"], "accuracy"),
        (None, ["one two three four five six seven eight nine"], "rougeL"),  # 9 words > 8
        (None, ["one two three four five six seven eight"], "accuracy"),  # 8 words: not more than 8
        ("my_data", ["yes", "no"], "accuracy"),
    ],
)
def test_default_primary(dataset: str | None, refs: list[str], primary: str) -> None:
    got, why = default_primary(dataset, refs)
    assert got == primary and why
    assert FREE_TEXT_WORDS == 8.0


def test_no_ablations_no_flag() -> None:
    s = summarize_evaluation([_seeded_run([60.0, 70.0, 80.0], [50.0] * 3)], (), "accuracy", 2.0)
    assert (s["flag"], s["ignores_ecg"], s["flag_rule"], s["ablations"]) == (
        "no ablations run",
        False,
        None,
        {},
    )
