"""The language model on a CUDA GPU: bf16 training, exact-enough resume, GPU inference, two-stage.

Skipped without a GPU (CI has none); run on a GPU machine with ``python -m pytest tests/test_elm_gpu.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

from ecgbyte.data import build_synthetic_qa  # noqa: E402
from ecgbyte.elm.generate import predict  # noqa: E402
from ecgbyte.elm.run import load_run  # noqa: E402
from ecgbyte.elm.train import train  # noqa: E402
from ecgbyte.elm.two_stage import pretrain_stage1  # noqa: E402
from ecgbyte.tokenizer import ECGByteTokenizer  # noqa: E402
from tiny import tiny_config, toy_ecgs  # noqa: E402

LEADS = ("I", "II", "V1")


def _data():
    ecgs = toy_ecgs(16, leads=LEADS)
    items = build_synthetic_qa(ecgs, seed=0)
    tok = ECGByteTokenizer.train(ecgs, n_merges=20, leads=("II",), seed=0, preprocess=None)
    return items, tok


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (run_dir / "log.jsonl").read_text().splitlines()]


def _fp32_run(run_dir: str) -> dict:
    items, tok = _data()
    cfg = tiny_config(precision="fp32", keep_leads=("II",))
    return train(cfg, items, ecg_tokenizer=tok, run_dir=run_dir, progress=False)


def test_gpu_training_matches_cpu_in_fp32(tmp_path: Path) -> None:
    gpu = _fp32_run(str(tmp_path / "gpu"))
    assert gpu["device"].startswith("cuda") and gpu["mixed_precision"] == "no"
    # the same run on the CPU, in a process that sees no GPU
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_elm_gpu as t; "
    code += f"print(t._fp32_run({str(tmp_path / 'cpu')!r})['device'])"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "cpu"
    np.testing.assert_allclose(_losses(tmp_path / "gpu"), _losses(tmp_path / "cpu"), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_gpu_bf16_training_resumes_and_generates(tmp_path: Path, finetune: str) -> None:
    items, tok = _data()
    cfg = tiny_config(
        keep_leads=("II",), finetune=finetune, lora_r=4, lora_alpha=8, lora_targets=("q_proj", "v_proj")
    )
    full = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "a", progress=False)
    assert full["mixed_precision"] == "bf16" and full["device"].startswith("cuda")
    assert full["steps"] == 6 and np.isfinite(full["final_loss"])
    train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "b", progress=False, stop_after=3)
    rng = torch.load(tmp_path / "b" / "checkpoints" / "step-0000003" / "rng.pt", weights_only=True)
    assert set(rng) == {"cpu", "cuda"}  # dropout on the GPU draws from the CUDA generator
    train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "b", progress=False, resume=True)
    la, lb = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert la[:3] == lb[:3]  # the same computation up to the checkpoint
    np.testing.assert_allclose(la, lb, rtol=2e-2)  # GPU kernels may sum in another order after it

    run = load_run(tmp_path / "a")
    assert next(run.model.parameters()).device.type == "cuda"
    batched = [r["prediction"] for r in predict(run, items[:6], batch_size=6)]
    single = [predict(run, [it], batch_size=1)[0]["prediction"] for it in items[:6]]
    assert batched == single and all(isinstance(p, str) for p in batched)
    on_cpu = load_run(tmp_path / "a", device="cpu")
    assert next(on_cpu.model.parameters()).device.type == "cpu"
    assert [r["prediction"] for r in predict(on_cpu, items[:6], batch_size=6)] == batched


def test_gpu_two_stage_pretrains_on_the_gpu_and_trains(tmp_path: Path) -> None:
    ecgs = toy_ecgs(16, leads=LEADS)
    items = build_synthetic_qa(ecgs, seed=0)
    tok = pretrain_stage1(ecgs, fs=50.0, leads=LEADS, k=4, max_steps=5, widths=(8, 16), strides=(1, 2))
    assert next(tok.encoder.parameters()).device.type == "cpu"  # frozen copy kept on the CPU
    assert len(tok.info["losses"]) == 5 and np.isfinite(tok.info["losses"]).all()
    cfg = tiny_config(max_steps=4, ecg_input="encoder", soft_tokens=4)
    out = train(cfg, items, ecg_tokenizer=tok, run_dir=tmp_path / "run", progress=False)
    assert out["device"].startswith("cuda") and np.isfinite(out["final_loss"])
    run = load_run(tmp_path / "run")
    rows = predict(run, items[:4], batch_size=4)
    assert len(rows) == 4 and all(isinstance(r["prediction"], str) for r in rows)
