"""Ablation mechanics and ``evaluate_run`` on a tiny trained run (a few optimizer steps, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from ecgbyte.errors import ConfigError, DatasetError
from ecgbyte.eval.ablations import ablation_examples, different_patient_permutation
from ecgbyte.eval.evaluate import evaluate_run
from ecgbyte.eval.summary import summarize_evaluation as _summarize
from ecgbyte.report.markdown import evaluation_report, to_markdown
from tiny import train_synthetic_run

SPEC = {"name": "synthetic", "n_ecgs": 24, "seed": 0, "target_fs": 50.0, "leads": ["II"]}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A run trained for 3 steps on 24 synthetic ECGs (lead II, 50 Hz, 40 merges)."""
    return train_synthetic_run(
        tmp_path_factory.mktemp("run") / "r0",
        n_ecgs=24,
        seed=0,
        n_merges=40,
        batch_size=8,
        max_steps=3,
        warmup_steps=1,
        schedule="constant",
        log_every=1,
        max_length=400,
        max_new_tokens=3,
        extra={"data": SPEC},
    )


@pytest.fixture(scope="module")
def loaded(tiny_run):
    from ecgbyte.elm.run import load_run

    return load_run(tiny_run[0])


def _ecg_ids(ex, lay) -> list[int]:
    return [i for i in ex.input_ids[: ex.prompt_len] if i >= lay.ecg_offset]


def test_different_patient_permutation() -> None:
    pts = ["a", "a", "b", "b", "c", "c", "d"]
    p = different_patient_permutation(pts, seed=3)
    assert sorted(p.tolist()) == list(range(7))
    assert all(pts[j] != pts[i] for i, j in enumerate(p))
    assert p.tolist() == different_patient_permutation(pts, seed=3).tolist()  # seeded
    with pytest.raises(DatasetError, match="two patients"):
        different_patient_permutation(["a", "a"], seed=0)
    with pytest.raises(DatasetError, match="more than half"):
        different_patient_permutation(["a", "a", "a", "b"], seed=0)


@pytest.mark.slow
def test_no_signal_and_blackout_prompts(loaded, tiny_run) -> None:
    items = tiny_run[1]["test"]
    lay = loaded.layout
    base = ablation_examples(loaded, items, "baseline")
    none = ablation_examples(loaded, items, "no_signal")
    black = ablation_examples(loaded, items, "blackout")
    for b, n, k in zip(base, none, black):
        assert _ecg_ids(n, lay) == [] and lay.ecg_start_id not in n.input_ids
        # the question text is unchanged: same tail after the ECG block
        q = b.input_ids[b.input_ids.index(lay.ecg_end_id) + 1 : b.prompt_len]
        assert n.input_ids[n.prompt_len - len(q) : n.prompt_len] == q
        assert len(_ecg_ids(b, lay)) > 0 and _ecg_ids(k, lay) != _ecg_ids(b, lay)
    # a flat line is one repeated symbol: every blackout ECG tokenizes to the same ids
    assert len({tuple(_ecg_ids(k, lay)) for k in black}) == 1
    flat = set(_ecg_ids(black[0], lay))
    sym = {loaded.ecg_tokenizer.id_to_token(i - lay.ecg_offset) for i in flat}
    assert len(set("".join(sym))) == 1


@pytest.mark.slow
def test_noise_is_seeded_and_changes_tokens(loaded, tiny_run) -> None:
    items = tiny_run[1]["test"]
    lay = loaded.layout
    base = [_ecg_ids(e, lay) for e in ablation_examples(loaded, items, "baseline")]
    n0 = [_ecg_ids(e, lay) for e in ablation_examples(loaded, items, "noise", seed=0)]
    assert n0 == [_ecg_ids(e, lay) for e in ablation_examples(loaded, items, "noise", seed=0)]
    assert n0 != [_ecg_ids(e, lay) for e in ablation_examples(loaded, items, "noise", seed=1)]
    assert all(a != b for a, b in zip(n0, base))
    with pytest.raises(DatasetError, match="noise_std_mv"):
        ablation_examples(loaded, items, "noise", noise_std_mv=0.0)
    with pytest.raises(DatasetError, match="unknown ablation"):
        ablation_examples(loaded, items, "mirror")


@pytest.mark.slow
def test_shuffled_pairs_each_question_with_another_patients_ecg(loaded, tiny_run) -> None:
    items = tiny_run[1]["test"]
    lay = loaded.layout
    base = [_ecg_ids(e, lay) for e in ablation_examples(loaded, items, "baseline")]
    shuf = ablation_examples(loaded, items, "shuffled", seed=5)
    perm = different_patient_permutation([it.patient_id for it in items], seed=5)
    for i, ex in enumerate(shuf):
        j = int(perm[i])
        assert items[j].patient_id != items[i].patient_id
        assert _ecg_ids(ex, lay) == base[j]
        assert ex.item_id == items[i].item_id  # the question stays with its item


@pytest.mark.slow
def test_evaluate_run_writes_json_markdown_and_predictions(tiny_run, tmp_path: Path) -> None:
    run_dir, splits = tiny_run
    out = tmp_path / "evaluation_test.json"
    s, path = evaluation_report(
        [run_dir, run_dir], "test", out=out, bertscore_model=None, ablation_nlg=False, batch_size=4
    )
    assert path == out
    n = len(splits["test"])
    assert s["n_runs"] == 2 and s["n_items"] == [n, n]
    acc = s["metrics"]["accuracy"]
    # the same run twice: identical scores, so the interval has zero width
    assert acc["half_width"] == 0.0 and acc["n"] == 2
    assert set(s["ablations"]) == {"no_signal", "blackout", "noise", "shuffled"}
    assert s["ablations"]["noise"]["scores"]["bleu4"] is None  # ablation_nlg=False
    d = s["ablations"]["no_signal"]["drop"]["accuracy"]["mean"]
    assert d == pytest.approx(acc["mean"] - s["ablations"]["no_signal"]["scores"]["accuracy"]["mean"])
    saved = json.loads(out.read_text())
    assert saved["flag"] == s["flag"]
    md = out.with_suffix(".md").read_text()
    assert "| Accuracy (normalised exact match) |" in md and "no_signal (drop)" in md
    rows = [json.loads(x) for x in (run_dir / "eval" / "test_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == n and {"baseline", "no_signal", "blackout", "noise", "shuffled", "reference"} <= set(
        rows[0]
    )


@pytest.mark.slow
def test_evaluate_run_argument_errors(tiny_run) -> None:
    with pytest.raises(ConfigError, match="unknown ablation"):
        evaluate_run(tiny_run[0], ablations=("flip",))
    with pytest.raises(ConfigError, match="unknown primary metric 'bleu5'; choose one of accuracy"):
        evaluate_run(tiny_run[0], primary="bleu5")
    with pytest.raises(ConfigError, match="at least one"):
        evaluate_run([])


def _run(acc: float, abl: dict[str, float]) -> dict:
    base = {"accuracy": acc, "token_f1": acc, "bleu4": None}
    return {
        "n": 10,
        "scores": base,
        "labels": {},
        "notes": {},
        "warnings": [],
        "ablations": {k: {"accuracy": v, "token_f1": v, "bleu4": None} for k, v in abl.items()},
    }


def test_flag_when_model_ignores_the_ecg() -> None:
    """Drops of accuracy: 90 - 89 = 1 and 90 - 91 = -1 points, both < 2: flagged."""
    runs = [_run(90.0, {"no_signal": 89.0, "shuffled": 91.0})]
    s = _summarize(runs, ("no_signal", "shuffled"), "accuracy", 2.0)
    assert s["ignores_ecg"] is True and s["flag"].startswith("MODEL IGNORES THE ECG")
    assert s["drops_primary"] == {"no_signal": 1.0, "shuffled": -1.0}


def test_no_flag_when_an_ablation_hurts_and_intervals_over_seeds() -> None:
    """Three seeds, no_signal drops 40, 50, 60 points: mean 50, s = 10, half-width
    t_{0.975,2} * 10 / sqrt(3) = 24.84."""
    runs = [
        _run(90.0, {"no_signal": 50.0}),
        _run(95.0, {"no_signal": 45.0}),
        _run(100.0, {"no_signal": 40.0}),
    ]
    s = _summarize(runs, ("no_signal",), "accuracy", 2.0)
    assert s["ignores_ecg"] is False and "uses the ECG" in s["flag"]
    drop = s["ablations"]["no_signal"]["drop"]["accuracy"]
    assert drop["mean"] == pytest.approx(50.0) and drop["half_width"] == pytest.approx(
        4.302653 * 10 / np.sqrt(3)
    )
    assert s["metrics"]["bleu4"] is None
    md = to_markdown({**s, "split": "test", "run_dirs": []})
    assert "| accuracy | 95.00 ± 12.42 | 45.00 ± 12.42 (+50.00 ± 24.84) |" in md


@pytest.mark.slow
def test_evaluate_run_single_run_gets_bootstrap_intervals(tiny_run, tmp_path: Path) -> None:
    run_dir, splits = tiny_run
    kw = dict(bertscore_model=None, ablations=("no_signal",), batch_size=4, n_resamples=200)
    s, _ = evaluation_report(run_dir, "test", seed=3, out=tmp_path / "e.json", **kw)
    n = len(splits["test"])
    p = len({it.patient_id for it in splits["test"]})
    assert p < n  # several questions per patient: the bootstrap resamples patients
    assert s["interval"] == {
        "method": "bootstrap",
        "label": f"95% bootstrap CI over {p} patients ({n} test items), 1 run",
        "n_resamples": 200,
        "n_patients": p,
        "n_items": n,
    }
    assert s["runs"][0]["n_patients"] == p
    acc = s["metrics"]["accuracy"]
    assert acc["method"] == "bootstrap" and acc["n"] == p
    assert acc["low"] <= acc["mean"] <= acc["high"]
    assert s["metrics"]["bleu4"]["low"] <= s["metrics"]["bleu4"]["mean"] <= s["metrics"]["bleu4"]["high"]
    d = s["ablations"]["no_signal"]["drop"]["accuracy"]
    assert d["method"] == "bootstrap" and d["low"] <= d["mean"] <= d["high"]
    assert "95% bootstrap CI over" in (tmp_path / "e.md").read_text()
    # the same seed gives the same intervals; no bootstrap when n_resamples=0
    again = evaluate_run(run_dir, "test", seed=3, **kw)
    assert again["metrics"] == s["metrics"] and again["ablations"] == s["ablations"]
    none = evaluate_run(run_dir, "test", seed=3, **{**kw, "n_resamples": 0})
    assert none["interval"]["method"] == "none" and none["metrics"]["accuracy"]["half_width"] is None
    with pytest.raises(ConfigError, match="n_resamples"):
        evaluate_run(run_dir, n_resamples=-1)
