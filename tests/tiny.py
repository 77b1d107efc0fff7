"""Tiny sizes and toy ECGs shared by the language-model tests (each run takes seconds on a CPU)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgbyte.ecg import Ecg

# a 1-layer, 32-wide Llama with an 80-token text vocabulary: enough to train, save, resume, generate
TINY_LLM: dict[str, Any] = dict(
    tiny_hidden=32,
    tiny_layers=1,
    tiny_heads=2,
    tiny_intermediate=64,
    text_vocab_size=80,
    batch_size=4,
    lr=3e-3,
    max_length=64,
    max_new_tokens=4,
)


def tiny_config(**overrides: Any):
    """A ``TrainConfig`` for the tiny model: 6 cosine steps, warmup 2, logging every step."""
    from ecgbyte.elm.config import TrainConfig

    return TrainConfig(
        **{**TINY_LLM, "max_steps": 6, "warmup_steps": 2, "schedule": "cosine", "log_every": 1, **overrides}
    )


def toy_ecgs(
    n: int, *, seed: int = 0, fs: float = 50.0, leads: tuple[str, ...] = ("I", "II", "V1")
) -> list[Ecg]:
    """``n`` 10 s toy ECGs: a spiky beat at 50/80/110 bpm, noisier when labelled AF; 2 ECGs per patient."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(10 * fs)) / fs
    out = []
    for i in range(n):
        af = i % 2 == 1
        hr = 50.0 + 30 * (i % 3)
        beat = np.sin(2 * np.pi * hr / 60 * t) ** 15
        sig = np.stack([beat * (j + 1) * 0.5 for j in range(len(leads))]).astype(np.float32)
        sig += rng.normal(0, 0.2 if af else 0.02, size=sig.shape).astype(np.float32)
        labels = {"heart_rate_bpm": hr, "rhythm": "afib" if af else "sinus"}
        out.append(
            Ecg(sig, fs=fs, leads=leads, record_id=f"r{i}", patient_id=f"p{i // 2}", meta={"labels": labels})
        )
    return out


def train_synthetic_run(
    run_dir, *, n_ecgs: int, seed: int, n_merges: int, **config: Any
) -> tuple[Any, dict[str, list]]:
    """Train a tiny run on synthetic lead-II QA at 50 Hz; returns ``(run_dir, splits)``.

    ``config`` is the whole ``TrainConfig`` beyond :data:`TINY_LLM` (steps, schedule, lengths...).
    """
    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.data.synthetic_qa import preprocess_config_for, synthetic_splits
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.train import train
    from ecgbyte.tokenizer import ECGByteTokenizer

    splits = synthetic_splits(n_ecgs, seed=seed, target_fs=50.0, leads=("II",))
    tok = ECGByteTokenizer.train(
        unique_ecgs(splits["train"]),
        n_merges=n_merges,
        leads=("II",),
        seed=0,
        preprocess=preprocess_config_for(50.0),
    )
    cfg = TrainConfig(**{**TINY_LLM, "keep_leads": ("II",), **config})
    train(cfg, splits["train"], ecg_tokenizer=tok, run_dir=run_dir, progress=False)
    return run_dir, splits


def write_local_llama(
    path: Any,
    texts: list[str],
    *,
    pad_rows: int = 0,
    hidden: int = 32,
    text_vocab: int = 120,
    context: int = 2048,
) -> Any:
    """A 1-layer Llama with random weights (seed 0) and a BPE text tokenizer trained on ``texts``,
    saved like a downloaded HF model; ``pad_rows`` pads its embedding matrix beyond the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ecgbyte.elm.model import train_text_tokenizer

    tok = train_text_tokenizer(texts, vocab_size=text_vocab)
    cfg = LlamaConfig(
        vocab_size=len(tok) + pad_rows,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
