"""Sampling decoding (the original's protocol): seeded passes, scores per seed, t-interval over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from ecgbyte.cli import main
from ecgbyte.errors import ConfigError, ModelError
from ecgbyte.eval import metrics as M
from ecgbyte.eval.evaluate import decoding_spec, evaluate_run, parse_seeds
from tiny import train_synthetic_run

SPEC = {"name": "synthetic", "n_ecgs": 24, "seed": 0, "target_fs": 50.0, "leads": ["II"]}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A run trained for 3 steps on 24 synthetic ECGs: its sampled answers vary with the seed."""
    return train_synthetic_run(
        tmp_path_factory.mktemp("run") / "r0",
        n_ecgs=24,
        seed=0,
        n_merges=40,
        batch_size=8,
        max_steps=3,
        warmup_steps=1,
        schedule="constant",
        max_length=400,
        max_new_tokens=3,
        extra={"data": SPEC},
    )


def test_decoding_spec_and_seeds() -> None:
    greedy = decoding_spec("greedy", None, num_beams=1, max_new_tokens=128)
    assert greedy["label"] == "greedy, up to 128 new tokens" and greedy["seeds"] == []
    assert decoding_spec("greedy", None, num_beams=4, max_new_tokens=8)["label"] == (
        "beam search (4 beams), up to 8 new tokens"
    )
    sample = decoding_spec("sample", None, num_beams=1, max_new_tokens=128)
    assert sample["seeds"] == [0, 42, 123, 456, 789]
    assert (sample["temperature"], sample["top_p"], sample["top_k"]) == (0.6, 0.9, 50)
    assert sample["label"] == (
        "sampling as the original (temperature 0.6, top-p 0.9, top-k 50), 5 seeds "
        "(0, 42, 123, 456, 789), up to 128 new tokens"
    )
    assert parse_seeds("0, 42,123") == [0, 42, 123] and parse_seeds(None) is None
    with pytest.raises(ConfigError, match="not comma-separated integers"):
        parse_seeds("0,x")
    with pytest.raises(ConfigError, match="seeds are for sampling"):
        decoding_spec("greedy", "0,1", num_beams=1, max_new_tokens=8)
    with pytest.raises(ConfigError, match="distinct seeds"):
        decoding_spec("sample", [1, 1], num_beams=1, max_new_tokens=8)
    with pytest.raises(ConfigError, match="unknown decoding 'beam'"):
        decoding_spec("beam", None, num_beams=1, max_new_tokens=8)


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(tiny_run) -> None:
    import torch

    from ecgbyte.data.sequences import EncodedCache, build_examples
    from ecgbyte.elm.generate import generate_answers
    from ecgbyte.elm.run import load_run

    run = load_run(tiny_run[0])
    items = tiny_run[1]["test"][:6]
    exs = build_examples(items, run.builder(), EncodedCache(run.ecg_tokenizer), with_answer=False)
    gen = lambda **kw: generate_answers(  # noqa: E731
        run.model, run.text_tokenizer, exs, run.layout, batch_size=6, max_new_tokens=3, **kw
    )
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    s0 = gen(do_sample=True, seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # fork_rng: the caller's RNG is untouched
    assert gen(do_sample=True, seed=0) == s0  # same seed, same answers
    assert gen(do_sample=True, seed=1) != s0
    assert gen() == gen(do_sample=False)  # greedy stays the default, and needs no seed
    with pytest.raises(ModelError, match="needs a seed"):
        gen(do_sample=True)
    with pytest.raises(ModelError, match="one beam"):
        gen(do_sample=True, seed=0, num_beams=2)


def test_evaluate_with_sampling_scores_each_seed(tiny_run, tmp_path: Path) -> None:
    run_dir, _ = tiny_run
    n = 6
    kw = dict(bertscore_model=None, ablations=("no_signal",), batch_size=6, limit=n, n_resamples=50)
    s = evaluate_run(run_dir, "test", decode="sample", seeds="0,1,2", **kw)
    assert s["decoding"]["seeds"] == [0, 1, 2] and s["decoding"]["method"] == "sample"
    assert s["interval"] == {
        "method": "t",
        "label": "95% t-interval over 3 sampling seeds (1 run)",
        "n_seeds": 3,
    }
    assert "bootstrap" not in s["runs"][0]  # several seeds: the interval is over them
    rows = [json.loads(x) for x in (run_dir / "eval" / "test_predictions.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in rows] == [0] * n + [1] * n + [2] * n
    by_seed = s["runs"][0]["by_seed"]
    for k, seed in enumerate((0, 1, 2)):
        part = rows[k * n : (k + 1) * n]
        preds, refs = [r["baseline"] for r in part], [r["reference"] for r in part]
        again = M.compute_metrics(preds, refs, bertscore_model=None)["scores"]
        assert by_seed[k]["seed"] == seed
        assert by_seed[k]["scores"]["token_f1"] == pytest.approx(again["token_f1"])
        assert by_seed[k]["scores"]["bleu4_paper"] == pytest.approx(again["bleu4_paper"])
    assert len({tuple(r["baseline"] for r in rows[k * n : (k + 1) * n]) for k in range(3)}) > 1
    for m in ("token_f1", "rougeL_paper"):
        vals = [b["scores"][m] for b in by_seed]
        iv = s["metrics"][m]
        assert iv["mean"] == pytest.approx(np.mean(vals)) and iv["n"] == 3 and iv["method"] == "t"
        # t_{0.975, 2} = 4.302653
        assert iv["half_width"] == pytest.approx(4.302653 * np.std(vals, ddof=1) / np.sqrt(3), rel=1e-6)
    # one seed: no t-interval over seeds, the cluster bootstrap over the patients instead
    one = evaluate_run(run_dir, "test", decode="sample", seeds=[1], **kw)
    assert one["interval"]["method"] == "bootstrap" and one["runs"][0]["by_seed"][0] == by_seed[1]


def test_generate_and_evaluate_commands(tiny_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, _ = tiny_run
    out = tmp_path / "p.jsonl"
    argv = [
        "generate",
        str(run_dir),
        "--out",
        str(out),
        "--limit",
        "3",
        "--decode",
        "sample",
        "--seeds",
        "5,6",
    ]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 3 and set(res["exact_match_by_seed"]) == {"5", "6"}
    assert res["decoding"].startswith(
        "sampling as the original (temperature 0.6, top-p 0.9, top-k 50), 2 seeds"
    )
    assert [json.loads(x)["seed"] for x in out.read_text().splitlines()] == [5, 5, 5, 6, 6, 6]
    assert main(["generate", str(run_dir), "--out", str(out), "--seeds", "1"]) == 2
    assert "seeds are for sampling" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--primary", "bleu5", "--limit", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("ecgbyte evaluate: error: unknown primary metric 'bleu5'")
    assert "choose one of accuracy, token_f1, bleu4, bleu4_paper" in err


def test_primary_metric_default_and_fast_ablations(tiny_run) -> None:
    """The synthetic dataset has short answers: accuracy by default. With ROUGE-L as primary,
    fast ablations still score ROUGE-L (the flag needs its drop), but not what the flag does not use."""
    run_dir, _ = tiny_run
    kw = dict(bertscore_model=None, ablations=("no_signal",), batch_size=4, limit=4, n_resamples=0)
    s = evaluate_run(run_dir, "test", ablation_nlg=False, **kw)
    assert (s["primary"], s["primary_reason"]) == ("accuracy", "dataset synthetic has short answers")
    assert s["ablations"]["no_signal"]["scores"]["rougeL"] is None
    s = evaluate_run(run_dir, "test", ablation_nlg=False, primary="rougeL", **kw)
    assert (s["primary"], s["primary_reason"]) == ("rougeL", "given")
    assert s["ablations"]["no_signal"]["scores"]["rougeL"] is not None
    assert s["drops_primary"]["no_signal"] is not None and s["flag_rule"] == "threshold"
    assert "No interval (single run, no interval)" in s["flag"]
    assert s["decoding"]["label"] == "greedy, up to 3 new tokens"


@pytest.mark.gpu
def test_sampling_on_a_gpu_is_seeded_and_leaves_its_rng_alone(tiny_run) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import load_run

    run = load_run(tiny_run[0], device="cuda")
    items = tiny_run[1]["test"][:6]
    state = torch.cuda.get_rng_state()
    first = [r["prediction"] for r in predict(run, items, batch_size=6, do_sample=True, seed=3)]
    assert torch.equal(torch.cuda.get_rng_state(), state)
    assert [r["prediction"] for r in predict(run, items, batch_size=6, do_sample=True, seed=3)] == first
