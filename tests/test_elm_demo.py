"""The ELM demo and the train/generate commands, on tiny sizes (the full demo is measured by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from ecgbyte.cli import main
from ecgbyte.demo import run_elm_demo

TINY = {"max_steps": 3, "tiny_hidden": 32, "tiny_heads": 2, "tiny_intermediate": 64, "tiny_layers": 1}


def test_demo_fast_writes_results_and_plot(tmp_path: Path) -> None:
    r = run_elm_demo(
        tmp_path, n_ecgs=40, n_merges=20, train_overrides={**TINY, "max_length": 256}, progress=False
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["accuracy"] == r["accuracy"]
    assert set(r["accuracy"]) == {"with_signal", "no_signal"}
    assert set(r["accuracy"]["with_signal"]) == {"all", "rate", "rhythm"}
    assert r["n_items"]["valid"] == 0 and r["n_items"]["train"] + r["n_items"]["test"] == 80
    # 20 merges leave 270-540 tokens per ECG > max_length 256: cut in training and evaluation alike
    assert r["train"]["with_signal"]["n_cut_tokens"] > 0 and r["train"]["no_signal"]["n_cut_tokens"] == 0
    assert r["train"]["with_signal"]["tokens"] > r["train"]["no_signal"]["tokens"]  # ECG tokens really in
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    rows = [
        json.loads(x) for x in (tmp_path / "with_signal" / "predictions_test.jsonl").read_text().splitlines()
    ]
    assert len(rows) == r["n_items"]["test"] and all(row["n_cut"] > 0 for row in rows)


def test_train_then_generate_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        "synthetic",
        "--model",
        "tiny",
        "--out",
        str(out),
        "--n-ecgs",
        "24",
        "--n-merges",
        "10",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    assert main(args) == 0
    assert (
        main([*args[:-3], "--steps", "3", "--batch-size", "4", "--no-progress", "--resume"]) == 2
    )  # config differs
    assert "differs" in capsys.readouterr().err
    preds = tmp_path / "p.jsonl"
    assert main(["generate", str(out), "--split", "test", "--out", str(preds), "--limit", "3"]) == 0
    rows = [json.loads(x) for x in preds.read_text().splitlines()]
    assert len(rows) == 3 and {"item_id", "prediction", "reference", "question_type"} <= set(rows[0])
    assert main(["generate", str(out), "--split", "nope", "--out", str(preds)]) == 2
    assert (
        main(
            [
                "train",
                "--model",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "r2"),
                "--n-ecgs",
                "8",
                "--n-merges",
                "5",
                "--steps",
                "1",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "not a local HF model directory" in capsys.readouterr().err
