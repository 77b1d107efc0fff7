"""Bootstrap intervals for a single run: cases worked by hand, BLEU statistics, pairing, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.eval import bootstrap as B
from ecgbyte.eval import metrics as M
from ecgbyte.eval.stats import format_interval, t_interval
from ecgbyte.eval.summary import summarize_evaluation as _summarize
from ecgbyte.report.markdown import to_markdown

WORDS = "normal sinus rhythm atrial fibrillation left bundle branch block yes no lead i ii".split()


def _corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    refs = [" ".join(rng.choice(WORDS, size=rng.integers(1, 8))) for _ in range(n)]
    preds = [r if rng.random() < 0.5 else " ".join(rng.choice(WORDS, size=rng.integers(0, 8))) for r in refs]
    return preds, refs


def _stats(preds: list[str], refs: list[str], nlg: bool = True) -> tuple[dict, dict]:
    res = M.compute_metrics_items(preds, refs, bertscore_model=None, nlg=nlg)
    return B.item_statistics(preds, refs, res.pop("per_item")), res["scores"]


def test_resample_counts_rows_sum_to_n_and_are_seeded() -> None:
    c = B.resample_counts(7, 50, seed=3)
    assert c.shape == (50, 7) and np.all(c.sum(axis=1) == 7)
    assert np.array_equal(c, B.resample_counts(7, 50, seed=3))
    assert not np.array_equal(c, B.resample_counts(7, 50, seed=4))
    # row 0 counts the indices of default_rng(3).integers(0, 7, size=(50, 7))[0]
    idx = np.random.default_rng(3).integers(0, 7, size=(50, 7))[0]
    assert c[0].tolist() == np.bincount(idx, minlength=7).tolist()
    with pytest.raises(ConfigError):
        B.resample_counts(0, 10, seed=0)
    with pytest.raises(ConfigError):
        B.resample_counts(5, 0, seed=0)


def test_all_correct_gives_a_degenerate_interval() -> None:
    """Every item right: every resample scores 100, so the interval is exactly [100, 100]; and
    identical ablated answers give paired drops of exactly 0 on every resample. (Corpus BLEU-4 is
    100 on any resample as every answer has 4+ words: all n-grams match, the lengths agree. A
    one-word answer would not do: NLTK counts its missing 2-grams as 0 / max(1, 0).)"""
    refs = [
        "normal sinus rhythm is present",
        "yes the ecg shows it",
        "lead i, lead ii, lead v1",
        "no it does not",
    ] * 5
    st, pts = _stats(refs, refs)
    out = B.bootstrap_run(st, {"same": st}, {"baseline": pts, "same": pts}, n_items=20, seed=0)
    for m in ("accuracy", "token_f1", "rouge1", "rougeL"):  # METEOR < 100 on short exact matches
        iv = out["metrics"][m]
        assert (iv["low"], iv["high"]) == (iv["mean"], iv["mean"]), m
    assert out["metrics"]["accuracy"]["mean"] == 100.0 and out["metrics"]["accuracy"]["low"] == 100.0
    assert out["metrics"]["bleu4"]["low"] == out["metrics"]["bleu4"]["high"] == pytest.approx(100.0)
    for m, d in out["ablations"]["same"]["drop"].items():
        assert (d["mean"], d["low"], d["high"], d["std"]) == (0.0, 0.0, 0.0, 0.0), m
    assert out["label"] == "95% bootstrap CI over 20 patients (20 test items), 1 run"
    assert out["metrics"]["accuracy"]["method"] == "bootstrap" and out["metrics"]["accuracy"]["n"] == 20


def test_half_right_interval_by_hand() -> None:
    """Accuracy of 2 items, one right: a resample has 0, 1 or 2 copies of the right one, so it
    scores 0, 50 or 100 with probability 1/4, 1/2, 1/4. The 2.5th and 97.5th percentiles of
    many such draws are 0 and 100; the bootstrap mean is about 50."""
    st = {"accuracy": np.array([100.0, 0.0])}
    boot = B.resampled_scores(st, B.resample_counts(2, 4000, seed=1))["accuracy"]
    assert set(np.unique(boot)) == {0.0, 50.0, 100.0}
    assert np.mean(boot == 50.0) == pytest.approx(0.5, abs=0.03)
    iv = B.percentile_interval(50.0, boot, n=2)
    assert (iv.low, iv.high, iv.n, iv.half_width) == (0.0, 100.0, 2, None)
    assert iv.format() == "50.00 [0.00, 100.00]"


def test_paired_drop_of_a_constant_shift() -> None:
    """Ablated scores = baseline - 10 on every item: every paired resample drops exactly 10,
    while the two unpaired intervals are wide (the pairing removes the item-to-item spread)."""
    x = np.random.default_rng(0).uniform(20, 100, size=50)
    base, abl = {"token_f1": x}, {"token_f1": x - 10}
    pts = {"baseline": {"token_f1": float(x.mean())}, "s": {"token_f1": float(x.mean() - 10)}}
    out = B.bootstrap_run(base, {"s": abl}, pts, n_items=50, n_resamples=500, seed=2)
    d = out["ablations"]["s"]["drop"]["token_f1"]
    assert d["mean"] == pytest.approx(10.0)
    assert d["low"] == pytest.approx(10.0) and d["high"] == pytest.approx(10.0)
    b = out["metrics"]["token_f1"]
    assert b["high"] - b["low"] > 5.0


def test_bleu_statistics_reproduce_nltk_and_sacrebleu_on_resamples() -> None:
    preds, refs = _corpus(120, seed=5)
    st, pts = _stats(preds, refs)
    assert B.nltk_bleu_from_stats(st["bleu4"].sum(axis=0)) == pytest.approx(pts["bleu4"], abs=1e-9)
    bleu, s2 = st["sacrebleu"]
    assert B.sacrebleu_from_stats(bleu, s2.sum(axis=0)[None])[0] == pytest.approx(pts["sacrebleu"], abs=1e-9)
    counts = B.resample_counts(120, 3, seed=9)
    boot = B.resampled_scores(st, counts)
    for b in range(3):
        idx = np.repeat(np.arange(120), counts[b].astype(int))
        p, r = [preds[i] for i in idx], [refs[i] for i in idx]
        assert boot["bleu4"][b] == pytest.approx(M.bleu4(p, r), abs=1e-9)
        assert boot["sacrebleu"][b] == pytest.approx(M.sacrebleu_score(p, r), abs=1e-9)
        assert boot["rouge1"][b] == pytest.approx(M.rouge(p, r)["rouge1"], abs=1e-9)
        assert boot["accuracy"][b] == pytest.approx(
            100.0 * np.mean([M.exact_match(a, c) for a, c in zip(p, r)])
        )


def test_nltk_bleu_edge_cases() -> None:
    """No unigram match -> 0 (NLTK's rule); empty hypotheses -> brevity penalty 0."""
    st = B.nltk_bleu_stats(["x y z"], ["a b c"])
    assert B.nltk_bleu_from_stats(st.sum(0)) == 0.0 == M.bleu4(["x y z"], ["a b c"])
    st = B.nltk_bleu_stats(["", "a b"], ["a b c", "a b"])
    assert B.nltk_bleu_from_stats(st.sum(0)) == pytest.approx(
        M.bleu4(["", "a b"], ["a b c", "a b"]), abs=1e-9
    )


def test_bootstrap_run_is_seeded_and_fast_metrics_only() -> None:
    preds, refs = _corpus(60, seed=1)
    abl_preds = ["no"] * 60
    st, pts = _stats(preds, refs, nlg=False)
    sa, pa = _stats(abl_preds, refs, nlg=False)
    assert set(st) == {"accuracy", "token_f1"}  # no NLG: no BLEU statistics
    run = lambda seed: B.bootstrap_run(  # noqa: E731
        st, {"no_signal": sa}, {"baseline": pts, "no_signal": pa}, n_items=60, n_resamples=200, seed=seed
    )
    assert run(4) == run(4)
    assert run(4)["metrics"]["accuracy"] != run(5)["metrics"]["accuracy"]
    d = run(4)["ablations"]["no_signal"]["drop"]["accuracy"]
    assert d["mean"] == pytest.approx(pts["accuracy"] - pa["accuracy"])
    assert d["low"] <= d["mean"] <= d["high"]


def _one_run() -> dict:
    """A run summary as ``evaluate_one`` returns it, with its bootstrap block."""
    preds, refs = _corpus(40, seed=2)
    st, pts = _stats(preds, refs, nlg=False)
    sa, pa = _stats(["yes"] * 40, refs, nlg=False)
    groups = [f"p{i // 2}" for i in range(40)]  # two items per patient
    points = {"baseline": pts, "no_signal": pa}
    boot = B.bootstrap_run(st, {"no_signal": sa}, points, n_items=40, groups=groups, seed=0)
    return {
        "n": 40,
        "scores": pts,
        "ablations": {"no_signal": pa},
        "labels": {},
        "notes": {},
        "warnings": [],
        "bootstrap": boot,
    }


def test_summary_of_one_run_uses_the_bootstrap_and_says_so() -> None:
    run = _one_run()
    s = _summarize([run], ("no_signal",), "accuracy", 2.0)
    assert s["interval"] == {
        "method": "bootstrap",
        "label": "95% bootstrap CI over 20 patients (40 test items), 1 run",
        "n_resamples": 1000,
        "n_patients": 20,
        "n_items": 40,
    }
    acc = s["metrics"]["accuracy"]
    assert acc["method"] == "bootstrap" and acc["low"] < acc["mean"] < acc["high"]
    assert (
        s["ablations"]["no_signal"]["drop"]["accuracy"]
        == run["bootstrap"]["ablations"]["no_signal"]["drop"]["accuracy"]
    )
    md = to_markdown({**s, "split": "test", "run_dirs": ["r"]})
    assert "intervals: 95% bootstrap CI over 20 patients (40 test items), 1 run" in md
    assert f"| accuracy | {format_interval(acc)} |" in md
    assert "[" in format_interval(acc) and "±" not in format_interval(acc)
    # two runs: t-interval, labelled as such; no bootstrap numbers leak in
    s2 = _summarize([run, run], ("no_signal",), "accuracy", 2.0)
    assert s2["interval"] == {"method": "t", "label": "95% t-interval over 2 runs"}
    assert s2["metrics"]["accuracy"]["method"] == "t" and s2["metrics"]["accuracy"]["half_width"] == 0.0
    # one run without bootstrap data (older JSON): no interval, said in words
    old = {k: v for k, v in run.items() if k != "bootstrap"}
    s3 = _summarize([old], ("no_signal",), "accuracy", 2.0)
    assert s3["interval"]["label"] == "single run, no interval"
    assert s3["metrics"]["accuracy"]["half_width"] is None


def test_flag_names_the_ablation_that_hurts_most() -> None:
    base = {"accuracy": 90.0}
    run = {
        "n": 10,
        "scores": base,
        "labels": {},
        "notes": {},
        "warnings": [],
        "ablations": {
            "no_signal": {"accuracy": 60.0},
            "noise": {"accuracy": 89.0},
            "shuffled": {"accuracy": 30.0},
        },
    }
    s = _summarize([run], ("no_signal", "noise", "shuffled"), "accuracy", 2.0)
    assert s["flag"].startswith("The model uses the ECG: accuracy is 90.0 with the ECG;")
    assert "shuffled (another patient's ECG) hurts most, accuracy 30.0 (drop +60.0 points)" in s["flag"]


def test_format_interval_kinds() -> None:
    assert format_interval(None) == "—"
    assert format_interval(t_interval([1.0, 2.0, 3.0]).to_dict()) == "2.00 ± 2.48"
    # 201 resamples 0, 1, ..., 200: the 2.5th percentile is 0.025 * 200 = 5, the 97.5th is 195
    iv = B.percentile_interval(100.0, np.arange(201.0), n=30).to_dict()
    assert "bounds" not in iv and iv["method"] == "bootstrap" and iv["n"] == 30
    assert iv["low"] == pytest.approx(5.0) and iv["high"] == pytest.approx(195.0)
    assert format_interval(iv, 1, signed=True) == "+100.0 [+5.0, +195.0]"


# ---------------------------------------------------------------------------- the cluster bootstrap
def test_cluster_counts_by_hand() -> None:
    """Items of patients a, a, b, c (patients numbered by first appearance: a=0, b=1, c=2): each
    resample draws 3 patients, row b is ``default_rng(seed).integers(0, 3, size=(B, 3))[b]``, and
    both items of a drawn patient a get a's count."""
    w, p = B.cluster_counts(["a", "a", "b", "c"], 20, seed=3)
    assert p == 3 and w.shape == (20, 4)
    draws = np.random.default_rng(3).integers(0, 3, size=(20, 3))
    for b in range(20):
        ca, cb, cc = np.bincount(draws[b], minlength=3)
        assert w[b].tolist() == [ca, ca, cb, cc]
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, [0, 2, 3]].sum(axis=1) == 3)


def test_one_item_per_patient_is_the_item_bootstrap_draw_for_draw() -> None:
    """All patients distinct: the weights are ``resample_counts(n, B, seed)`` and the intervals the
    old item bootstrap's (the same draws, every row summing to n)."""
    preds, refs = _corpus(30, seed=4)
    st, pts = _stats(preds, refs)
    w, p = B.cluster_counts([f"patient{i}" for i in range(30)], 200, seed=6)
    assert p == 30 and np.array_equal(w, B.resample_counts(30, 200, seed=6))
    by_patient = B.bootstrap_run(
        st, {}, {"baseline": pts}, n_items=30, groups=[f"x{i}" for i in range(30)], seed=6
    )
    by_item = B.bootstrap_run(st, {}, {"baseline": pts}, n_items=30, seed=6)
    assert by_patient["metrics"] == by_item["metrics"]
    # and both are the percentiles of the plain item resamples
    acc = B.resampled_scores({"accuracy": st["accuracy"]}, B.resample_counts(30, 1000, seed=6))["accuracy"]
    assert by_item["metrics"]["accuracy"]["low"] == pytest.approx(np.percentile(acc, 2.5))
    assert by_item["label"] == "95% bootstrap CI over 30 patients (30 test items), 1 run"


def test_cluster_interval_is_wider_when_a_patients_items_go_together() -> None:
    """10 patients with 5 questions each; patients 0-4 answer all right, 5-9 all wrong (accuracy
    50). Resampling patients, a resample's accuracy is k/10 with k ~ Binomial(10, 1/2):
    sd 100 * sqrt(0.25 / 10) = 15.81, and P(k <= 1) = 1.1% < 2.5% < P(k <= 2) = 5.5%, so the
    95% interval is [20, 80]. Resampling the 50 items as if independent, k/50 with
    k ~ Binomial(50, 1/2): sd 7.07, P(k <= 17) = 1.6% < 2.5% < P(k <= 18) = 3.2%: [36, 64],
    less than half as wide, and wrong: the 5 answers of a patient are one draw, not five."""
    x = np.array([100.0] * 25 + [0.0] * 25)
    groups = [f"p{i // 5}" for i in range(50)]
    pts = {"baseline": {"accuracy": 50.0}}
    run = lambda g: B.bootstrap_run(  # noqa: E731
        {"accuracy": x}, {}, pts, n_items=50, groups=g, n_resamples=4000, seed=0
    )
    cluster, item = run(groups), run(None)
    c, i = cluster["metrics"]["accuracy"], item["metrics"]["accuracy"]
    assert (c["low"], c["high"], c["n"]) == (20.0, 80.0, 10)
    assert (i["low"], i["high"], i["n"]) == (36.0, 64.0, 50)
    assert c["std"] == pytest.approx(15.81, rel=0.05) and i["std"] == pytest.approx(7.07, rel=0.05)
    assert cluster["label"] == "95% bootstrap CI over 10 patients (50 test items), 1 run"
    assert (cluster["n_patients"], cluster["n_items"]) == (10, 50)
    with pytest.raises(ConfigError, match="3 patient ids for 50 items"):
        run(["a", "b", "c"])


def test_cluster_resamples_reproduce_every_metric_on_the_drawn_items() -> None:
    """A cluster resample holds as many items as its drawn patients have (not n): per-item metrics
    are weighted means over them, corpus BLEU pools their statistics; both equal the metric
    recomputed on the drawn items written out."""
    preds, refs = _corpus(40, seed=8)
    groups = [f"p{i // 3}" for i in range(40)]  # 14 patients, 3 items each (the last has 1)
    st, _ = _stats(preds, refs)
    w, p = B.cluster_counts(groups, 3, seed=2)
    assert p == 14 and len(set(w.sum(axis=1))) > 1  # resample sizes vary
    boot = B.resampled_scores(st, w)
    for b in range(3):
        idx = np.repeat(np.arange(40), w[b].astype(int))
        pp, rr = [preds[i] for i in idx], [refs[i] for i in idx]
        assert boot["bleu4"][b] == pytest.approx(M.bleu4(pp, rr), abs=1e-9)
        assert boot["sacrebleu"][b] == pytest.approx(M.sacrebleu_score(pp, rr), abs=1e-9)
        assert boot["rougeL"][b] == pytest.approx(M.rouge(pp, rr)["rougeL"], abs=1e-9)
        paper, _ = M.paper_items(pp, rr)
        assert boot["bleu4_paper"][b] == pytest.approx(np.mean(paper["bleu4_paper"]), abs=1e-9)
        assert boot["rouge1_paper"][b] == pytest.approx(np.mean(paper["rouge1_paper"]), abs=1e-9)
