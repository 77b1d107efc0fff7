"""``ecgbyte export`` and ``ecgbyte prompt``: an exported run answers in plain transformers, with
ecgbyte unimportable, exactly as ``ecgbyte ask`` does (full fine-tuning, merged LoRA, PEFT adapters
with and without trained ECG rows), and its next-token logits are the run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
wfdb = pytest.importorskip("wfdb")
pytest.importorskip("peft")

from ecgbyte.cli import main  # noqa: E402
from ecgbyte.elm.generate import ask  # noqa: E402
from ecgbyte.elm.run import RunDir  # noqa: E402
from ecgbyte.errors import ConfigError, ModelError  # noqa: E402
from ecgbyte.serve.export import export_run  # noqa: E402
from ecgbyte.serve.prompt import prompt_ids  # noqa: E402
from serving import TRAIN  # noqa: E402
from tiny import train_synthetic_run  # noqa: E402

QUESTIONS = ("What is the rhythm of this ECG?", "Is the heart rate slow, normal or fast?")

# Runs in a fresh interpreter where importing ecgbyte fails: the exported folder stands alone.
PLAIN = r"""
import importlib.abc, json, sys
class NoEcgbyte(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ecgbyte":
            raise ImportError("ecgbyte is blocked in this test")
sys.meta_path.insert(0, NoEcgbyte())
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from peft import AutoPeftModelForCausalLM
jobs = json.loads(sys.stdin.read())
out = []
for job in jobs:
    if job["adapter"]:  # as the model card says: peft loads the base, the decoding comes from OUT
        model = AutoPeftModelForCausalLM.from_pretrained(job["dir"]).eval()
        model.generation_config = GenerationConfig.from_pretrained(job["dir"])
    else:
        model = AutoModelForCausalLM.from_pretrained(job["dir"]).eval()
    tok = AutoTokenizer.from_pretrained(job["dir"])
    answers, same_ids, logits = [], [], []
    for prompt in job["prompts"]:
        ids = torch.tensor([prompt["ids"]])
        with torch.no_grad():
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids))
            logits.append(model(input_ids=ids).logits[0, -1].tolist())
        answers.append(tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True).strip())
        same_ids.append(tok(prompt["text"], add_special_tokens=False)["input_ids"] == prompt["ids"])
    out.append({"answers": answers, "same_ids": same_ids, "logits": logits, "ecg_17": tok.convert_tokens_to_ids("<ecg_17>")})
try:
    import ecgbyte
    out.append("ecgbyte imported")
except ImportError:
    pass
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, serve_run_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    lora, _ = train_synthetic_run(root / "lora", **{**TRAIN, "finetune": "lora", "lr": 1e-2})
    # ECG rows not trained: an adapter export then carries the resized embeddings itself
    frozen, _ = train_synthetic_run(
        root / "lora_frozen_rows", **{**TRAIN, "finetune": "lora", "lr": 1e-2, "train_ecg_rows": False}
    )
    return {"full": serve_run_dir, "lora": lora, "lora_frozen_rows": frozen}


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecgbyte.signal.synth import synthesize

    ecg = synthesize(1, seed=3, fs=500.0, duration_s=10.0)[0]
    d = tmp_path_factory.mktemp("rec")
    wfdb.wrsamp(
        "r1",
        fs=500,
        units=["mV"] * ecg.n_leads,
        sig_name=list(ecg.leads),
        p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * ecg.n_leads,
        write_dir=str(d),
    )
    return d / "r1.hea"


def test_exported_runs_answer_like_ask_without_ecgbyte(
    runs: dict[str, Path], record: Path, tmp_path: Path
) -> None:
    cases = (
        ("full", "full", False),
        ("merged", "lora", False),
        ("adapter", "lora", True),
        ("adapter", "lora_frozen_rows", True),
    )
    jobs, expected, logits = [], [], []
    for mode, run_name, adapter in cases:
        out = tmp_path / f"{run_name}-{mode}"
        res = export_run(runs[run_name], out, adapter=adapter)
        assert res["mode"] == mode and res["checkpoint"] == "step-0000003"
        for f in (
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
            "README.md",
            "ecgbyte.json",
        ):
            assert f in res["files"], f
        assert "ecg_tokenizer/tokenizer.json" in res["files"]
        assert ("adapter_config.json" in res["files"]) == adapter
        assert ("model.safetensors" in res["files"]) == (not adapter)
        run = RunDir(runs[run_name]).load()
        prompts = [prompt_ids(run, record, q, text=True) for q in QUESTIONS]
        jobs.append(
            {
                "dir": str(out),
                "adapter": adapter,
                "prompts": [{"ids": p["prompt_token_ids"], "text": p["prompt_text"]} for p in prompts],
            }
        )
        expected.append([ask(run, record, q)["answer"] for q in QUESTIONS])
        assert [p["n_prompt_tokens"] for p in prompts] == [
            ask(run, record, q)["n_prompt_tokens"] for q in QUESTIONS
        ]
        with torch.no_grad():
            logits.append(
                [run.model(input_ids=torch.tensor([p["prompt_token_ids"]])).logits[0, -1] for p in prompts]
            )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(got) == len(cases)  # and not "ecgbyte imported"
    # non-empty answers in the full run and an adapter (a decoding that ignored generation_config.json
    # would run past max_new_tokens); the other LoRA answers are empty (<eos> first), hence the logits
    assert all(expected[0]) and any(expected[3])
    for case, g, want, ref in zip(cases, got, expected, logits):
        assert g["answers"] == want, case
        assert g["same_ids"] == [True, True], case  # the spelled-out prompt encodes to the same ids
        for a, b in zip(g["logits"], ref):
            torch.testing.assert_close(torch.tensor(a), b.float().cpu(), rtol=1e-4, atol=1e-4)
    layout = RunDir(runs["full"]).layout
    assert got[0]["ecg_17"] == layout.ecg_offset + 17


def test_export_files_and_card(runs: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    export_run(runs["full"], tmp_path / "out")
    lay = RunDir(runs["full"]).layout
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert len(tok) == lay.vocab_size
    assert tok.convert_ids_to_tokens(
        [lay.ecg_start_id, lay.ecg_end_id, lay.ecg_offset, lay.vocab_size - 1]
    ) == [
        "<ecg_start>",
        "<ecg_end>",
        "<ecg_0>",
        f"<ecg_{lay.ecg_vocab_size - 1}>",
    ]
    gen = GenerationConfig.from_pretrained(tmp_path / "out")
    assert (gen.max_new_tokens, gen.num_beams, gen.do_sample, gen.eos_token_id) == (4, 1, False, lay.eos_id)
    assert gen.suppress_tokens == list(range(lay.ecg_start_id, lay.vocab_size))
    meta = json.loads((tmp_path / "out" / "ecgbyte.json").read_text())
    assert meta["layout"] == lay.to_dict() and meta["mode"] == "full"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Not for clinical use" in card and "| optimizer steps | 3 of 3 |" in card
    assert "holds no evaluation" in card and "not recorded in the run's config" in card
    # the same run exports to the same bytes (nothing measured, nothing random)
    export_run(runs["full"], tmp_path / "again")
    for f in ("README.md", "tokenizer.json", "generation_config.json", "model.safetensors"):
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / "out" / f).read_bytes(), f
    # an evaluation table in the run folder goes into the card
    (runs["full"] / "evaluation_test.md").write_text("# Evaluation on `test`\n\n| metric | score |\n")
    try:
        export_run(runs["full"], tmp_path / "evaluated")
    finally:
        (runs["full"] / "evaluation_test.md").unlink()
    card = (tmp_path / "evaluated" / "README.md").read_text()
    assert "### Evaluation on `test`" in card and "holds no evaluation" not in card


def test_export_refusals(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not an empty folder"):
        export_run(runs["full"], tmp_path / "taken")
    with pytest.raises(ConfigError, match="needs a LoRA run"):
        export_run(runs["full"], tmp_path / "a", adapter=True)
    with pytest.raises(ConfigError, match="use it with --adapter"):
        export_run(runs["lora"], tmp_path / "b", base_model="x")
    # a two-stage run is refused before anything is loaded or written
    two = tmp_path / "two_stage"
    two.mkdir()
    cfg = json.loads((runs["full"] / "config.json").read_text())
    (two / "config.json").write_text(json.dumps({**cfg, "ecg_input": "encoder"}))
    with pytest.raises(ModelError, match="two-stage run"):
        export_run(two, tmp_path / "c")
    assert main(["export", str(two), str(tmp_path / "c")]) == 2
    assert "ecgbyte export: error:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken", "two_stage"]  # nothing left behind


def test_cli_export_and_prompt(runs: dict[str, Path], record: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(runs["lora"]), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "merged" in out and str(tmp_path / "out") in out
    assert main(["prompt", str(runs["full"]), str(record), QUESTIONS[0]]) == 0
    printed = json.loads(capsys.readouterr().out)
    want = prompt_ids(runs["full"], record, QUESTIONS[0])
    assert printed == want and "prompt_text" not in printed
    lay = RunDir(runs["full"]).layout
    ids = printed["prompt_token_ids"]
    assert ids[:2] == [lay.bos_id, lay.ecg_start_id] and lay.ecg_end_id in ids
    assert all(i >= lay.ecg_offset for i in ids[2 : ids.index(lay.ecg_end_id)])
    assert printed["suppress_token_ids"] == [lay.ecg_start_id, lay.vocab_size - 1]
    assert main(["prompt", str(runs["full"]), str(record), "  "]) == 2
    assert "question is empty" in capsys.readouterr().err
