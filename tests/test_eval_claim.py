"""analyse(): the claim's numbers from a hand-built results JSON, every expectation computed by hand (issue 14)."""

from __future__ import annotations

import copy
import json

import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.eval.claim import analyse, seed_bootstrap, time_to_target, total_cost


def _run(
    system: str, fraction: float, seed: int, curve: list[tuple[int, float, int, float]], s1: tuple
) -> dict:
    """curve: (step, wall_s, tokens, accuracy) cumulative LLM cost; s1: stage-1 (wall_s, steps, tokens)."""
    pts = [{"step": st, "wall_s": w, "tokens": tk, "accuracy": acc} for st, w, tk, acc in curve]
    return {
        "system": system,
        "fraction": fraction,
        "seed": seed,
        "stage1": {"wall_s": s1[0], "steps": s1[1], "tokens": s1[2]},
        "curve": pts,
        "final": {"accuracy": pts[-1]["accuracy"], "per_type": {}},
    }


def _results() -> dict:
    """Two-stage finals 70, 80, 90 (target 80); end to end reaches 80 at its 2nd point on every seed."""
    runs = []
    for seed, final in enumerate((70.0, 80.0, 90.0)):
        # two-stage: stage 1 costs 100 s, 50 steps, 0 tokens; LLM 3 points of 10 steps / 20 s / 1000 tokens
        curve = [(10, 20.0, 1000, 50.0), (20, 40.0, 2000, 60.0), (30, 60.0, 3000, final)]
        runs.append(_run("two_stage", 1.0, seed, curve, (100.0, 50, 0)))
    for seed, (w2, final) in enumerate(((30.0, 85.0), (40.0, 90.0), (50.0, 95.0))):
        # end to end: stage 1 (tokenizer) 10 s, 0 steps, 0 tokens; reaches 80 at (20 steps, w2 s, 4000 tokens)
        curve = [(10, 15.0, 2000, 40.0), (20, w2, 4000, 81.0), (30, 60.0, 6000, final)]
        runs.append(_run("end_to_end", 1.0, seed, curve, (10.0, 0, 0)))
    for frac, finals in ((0.1, (50.0, 55.0, 60.0)), (0.25, (78.0, 80.0, 85.0)), (0.48, (90.0, 90.0, 90.0))):
        for seed, f in enumerate(finals):
            runs.append(_run("end_to_end", frac, seed, [(5, 5.0, 500, f)], (10.0, 0, 0)))
    return {"runs": runs, "n_test_items": 400}


def test_time_to_target_and_total_cost_add_stage_1_in_every_unit() -> None:
    r = _run("end_to_end", 1.0, 0, [(10, 15.0, 2000, 40.0), (20, 30.0, 4000, 81.0)], (10.0, 3, 7))
    assert time_to_target(r, 80.0, "wall_s") == 40.0
    assert time_to_target(r, 80.0, "steps") == 23.0
    assert time_to_target(r, 80.0, "tokens") == 4007.0
    assert time_to_target(r, 40.0, "wall_s") == 25.0  # >= counts
    assert time_to_target(r, 81.5) is None
    assert total_cost(r, "steps") == 23.0


def test_seed_bootstrap_of_three_seeds_spans_their_range() -> None:
    # 3 seeds: the all-minimum resample has probability 1/27 > 2.5%, so the 95% interval is [min, max]
    b = seed_bootstrap([70.0, 80.0, 90.0])
    assert (b["mean"], b["low"], b["high"], b["n"]) == (80.0, 70.0, 90.0, 3)
    same = seed_bootstrap([5.0, 5.0, 5.0])
    assert (same["mean"], same["low"], same["high"]) == (5.0, 5.0, 5.0)
    never = seed_bootstrap([10.0, None, 20.0])  # a seed that never reaches counts as infinity
    assert never["mean"] is None and never["high"] is None and never["low"] == 10.0
    with pytest.raises(ConfigError, match="at least one seed"):
        seed_bootstrap([])


def test_analyse_reaches_target_faster() -> None:
    a = analyse(_results())
    assert (a["target"]["mean"], a["target"]["low"], a["target"]["high"]) == (80.0, 70.0, 90.0)
    tt = a["time_to_target"]["end_to_end"]
    # wall: 10 + (30, 40, 50) = 40, 50, 60; steps: 0 + 20; tokens: 0 + 4000
    assert (tt["wall_s"]["mean"], tt["wall_s"]["low"], tt["wall_s"]["high"]) == (50.0, 40.0, 60.0)
    assert (tt["steps"]["mean"], tt["steps"]["low"], tt["steps"]["high"]) == (20.0, 20.0, 20.0)
    assert tt["tokens"]["mean"] == 4000.0
    full = a["full_cost"]["two_stage"]
    assert (full["wall_s"]["mean"], full["steps"]["mean"], full["tokens"]["mean"]) == (160.0, 80.0, 3000.0)
    # two-stage seed 0 ends at 70 < 80: it never reaches its own mean, its time to target is "never"
    assert a["time_to_target"]["two_stage"]["wall_s"]["values"] == [None, 160.0, 160.0]
    assert a["ratio"]["wall_s"]["ratio"] == pytest.approx(160.0 / 50.0)
    assert a["ratio"]["wall_s"]["low"] == pytest.approx(160.0 / 60.0)  # the two-stage cost is constant
    assert a["ratio"]["wall_s"]["high"] == pytest.approx(160.0 / 40.0)
    assert a["ratio"]["steps"] == {"ratio": 4.0, "low": 4.0, "high": 4.0}
    assert a["ratio"]["tokens"]["ratio"] == pytest.approx(0.75)  # fewer tokens for two-stage: < 1, reported
    d = a["data_to_target"]["end_to_end"]
    # mean finals: 10% 55, 25% 81, 48% 90, 100% 90 -> 25%; bootstrap of 25% (78, 80, 85) vs 80 can
    # fall below (resample 78, 78, 80) -> 48%, or stay above -> 25%
    assert d["fraction"] == 0.25 and d["low"] == 0.25 and d["high"] == 0.48
    assert d["mean_by_fraction"] == {0.1: 55.0, 0.25: 81.0, 0.48: 90.0, 1.0: 90.0}
    s = a["sentence"]
    assert s.count("Target:") == 1 and "80.0% [70.0, 90.0] over 3 seeds" in s and "(400 questions)" in s
    assert "after 50 [40, 60] s, 20 [20, 20] optimizer steps and 4,000 [4,000, 4,000] processed tokens" in s
    assert "3.20x [2.67, 4.00] in wall time (faster)" in s and "0.75x" in s
    assert "smallest fraction whose mean reaches the target is 25% [25%, 48%]" in s
    assert "| end-to-end (ECG tokens) | 55.0 [50.0, 60.0] (n=3) |" in a["table"]
    json.dumps(a)  # the analysis is JSON


def test_analyse_counts_the_ecgs_learnt_from_stage_1_corpus_included() -> None:
    res = _results()
    assert analyse(res)["data_ratio"] is None  # rows without n_ecgs: no count, no ratio
    assert "learnt from" not in analyse(res)["sentence"]
    ecgs = {("two_stage", 1.0): 1125, ("end_to_end", 1.0): 125, ("end_to_end", 0.25): 30}
    for r in res["runs"]:
        r["n_ecgs"] = ecgs.get((r["system"], r["fraction"]), 12)
    res["runs"][-5]["n_ecgs"] = 33  # one 25% seed saw 3 more ECGs: the mean is (30 + 33 + 30) / 3 = 31
    a = analyse(res)
    assert a["ecgs"] == {"end_to_end": 125.0, "two_stage": 1125.0}
    assert a["data_ratio"] == pytest.approx(31.0 / 1125.0)  # e2e's ECGs at its data to target (25%)
    assert (
        "the two-stage system learnt from 1,125 ECGs (its stage-1 corpus included), end-to-end from 125; "
        "end-to-end reaches the target on 3% of that data." in a["sentence"]
    )


def test_analyse_ratio_below_one_is_reported_as_slower() -> None:
    res = _results()
    for r in res["runs"]:
        if r["system"] == "end_to_end" and r["fraction"] == 1.0:
            r["stage1"]["wall_s"] = 310.0  # a slow tokenizer: 310 + (30, 40, 50) = 340, 350, 360 s
    a = analyse(res)
    assert a["ratio"]["wall_s"]["ratio"] == pytest.approx(160.0 / 350.0)
    assert a["ratio"]["wall_s"]["ratio"] < 1 and "0.46x [0.44, 0.47] in wall time (slower)" in a["sentence"]


def test_analyse_never_reaches_target() -> None:
    res = _results()
    for r in res["runs"]:
        if r["system"] == "end_to_end":
            for p in r["curve"]:
                p["accuracy"] = min(p["accuracy"], 79.0)
            r["final"]["accuracy"] = r["curve"][-1]["accuracy"]
    a = analyse(res)
    assert all(
        a["ratio"][u] == {"ratio": None, "low": None, "high": None} for u in ("wall_s", "steps", "tokens")
    )
    assert a["time_to_target"]["end_to_end"]["wall_s"]["values"] == [None, None, None]
    assert a["data_to_target"]["end_to_end"]["fraction"] is None
    assert a["data_to_target"]["end_to_end"]["high"] is None
    s = a["sentence"]
    assert "does not reach it at 100% data (0 of 3 seeds do" in s and "no speed ratio" in s
    assert "is none [" in s
    for r in res["runs"]:
        r["n_ecgs"] = 1125 if r["system"] == "two_stage" else 125
    a = analyse(res)
    assert a["data_ratio"] is None and "end-to-end from 125." in a["sentence"]
    for r in res["runs"]:  # no corpus: the same ECGs, and the reverse gives no ECG ratio
        r["n_ecgs"] = 125 if r["fraction"] == 1.0 else 12
    a = analyse(res)
    assert "At 100% data both systems learnt from 125 ECGs." in a["sentence"]
    assert "corpus" not in a["sentence"] and a["reverse"]["data_ratio"] == 1.0
    # one seed that reaches it is not enough for a mean time: still no ratio, and it says 1 of 3
    res2 = copy.deepcopy(res)
    res2["runs"][3]["curve"][-1]["accuracy"] = 85.0
    assert "(1 of 3 seeds do" in analyse(res2)["sentence"]
    # the other way round: end to end's final 79 is the target; two-stage seed 0 (final 70) never gets there
    rv = a["reverse"]
    assert (rv["target"]["mean"], rv["target"]["low"], rv["target"]["high"]) == (79.0, 79.0, 79.0)
    assert rv["time_to_target"]["two_stage"]["wall_s"]["values"] == [None, 160.0, 160.0]
    assert "the two-stage system does not reach it on every seed (2 of 3 do)." in s


def test_analyse_reverse_gives_the_ratio_when_end_to_end_falls_short() -> None:
    res = _results()
    for r in res["runs"]:
        if r["system"] == "end_to_end":  # capped at 79: never reaches the two-stage target
            for p in r["curve"]:
                p["accuracy"] = min(p["accuracy"], 79.0)
            r["final"]["accuracy"] = r["curve"][-1]["accuracy"]
        else:
            r["n_ecgs"] = 1125
        if r["system"] == "end_to_end" and r["fraction"] == 1.0:
            r["n_ecgs"] = 125
    res["runs"][0]["curve"][-1]["accuracy"] = res["runs"][0]["final"]["accuracy"] = 85.0  # seed 0: 70 -> 85
    rv = analyse(res)["reverse"]
    # target 79 (every e2e seed ends at 79); every two-stage seed first reaches it at its last point:
    # 100 + 60 = 160 s, 50 + 30 = 80 steps; e2e's full training: 10 + 60 = 70 s, 0 + 30 = 30 steps
    assert rv["time_to_target"]["two_stage"]["wall_s"]["mean"] == 160.0
    assert rv["ratio"]["wall_s"]["ratio"] == pytest.approx(70.0 / 160.0)
    assert rv["ratio"]["steps"]["ratio"] == pytest.approx(30.0 / 80.0)
    assert rv["data_to_target"]["two_stage"]["fraction"] == 1.0  # its only fraction
    assert rv["data_ratio"] == pytest.approx(1125 / 125)
    s = analyse(res)["sentence"]
    assert (
        "The other way round, end-to-end's final accuracy is 79.0% [79.0, 79.0]; the two-stage system "
        "reaches it after 160 [160, 160] s, 80 [80, 80] optimizer steps and 3,000 [3,000, 3,000] processed "
        "tokens (stage 1 included): a ratio of 0.44x [0.44, 0.44] in wall time (slower than end-to-end's full "
        "training), 0.38x [0.38, 0.38] in steps and 2.00x [2.00, 2.00] in tokens; it needs 100% [100%, 100%] of the LLM's data, 9.0x end-to-end's ECGs with its stage-1 corpus."
    ) in s


def test_analyse_is_deterministic_and_needs_both_systems() -> None:
    assert analyse(_results()) == analyse(_results())
    res = _results()
    res["runs"] = [r for r in res["runs"] if r["system"] == "end_to_end"]
    with pytest.raises(ConfigError, match=r"no two_stage runs at fraction 1\.0"):
        analyse(res)


def test_the_committed_evidence_reproduces_the_readme_section() -> None:
    """Every number of the README's "Does end-to-end pay off?" comes from the committed JSON via analyse(),
    and every system x fraction of that run has >= 3 seeds."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    results = json.loads((root / "benchmarks/evidence/claim_bench/default/claim_bench.json").read_text())
    a = analyse(results)
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Does end-to-end pay off?") : readme.index("## Benchmarks")]
    assert f"> {a['sentence']}" in section
    assert a["table"] in section
    assert "benchmarks/evidence/claim_bench/default/" in section
    assert results["missing_runs"] == []
    import sys

    sys.path.insert(0, str(root / "benchmarks"))
    from claim_report import per_type_table, setup_table

    assert per_type_table(results) in section and setup_table(results) in section
    probe = json.loads((root / "benchmarks/evidence/claim_bench/claim_encoder_probe.json").read_text())
    assert probe["table"] in section  # the baseline's encoder: what its soft tokens hold
    ablation = json.loads(
        (root / "benchmarks/evidence/claim_bench/default_no_corpus/claim_bench.json").read_text()
    )
    b = analyse(ablation)  # the same plan, stage 1 on the LLM's own ECGs
    assert f"> {b['sentence']}" in section and b["table"].split("\n\n")[0] in section
    assert ablation["missing_runs"] == []
    assert all(len([r for r in results["runs"] if (r["system"], r["fraction"]) == (s, f)]) >= 3
               for s in ("end_to_end", "two_stage") for f in results["fractions"])  # fmt: skip
