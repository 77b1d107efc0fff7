"""Batched answer generation from a trained run: load it, build prompts, decode with the KV cache.

Prompts are the training sequences without the answer (same layout, same truncation policy),
left-padded into batches; ``model.generate`` decodes greedily (``num_beams=1``) or with beam
search, using the KV cache. Marker and ECG ids are suppressed in the output, which is text only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.data.sequences import (
    EncodedCache,
    Example,
    SequenceLayout,
    build_examples,
    collate,
    tokenizer_hash,
)
from ecgbyte.elm import model as M
from ecgbyte.elm.config import TrainConfig
from ecgbyte.errors import ModelError


@dataclass
class ElmRun:
    """A trained run loaded for inference."""

    model: Any
    text_tokenizer: Any
    ecg_tokenizer: Any
    layout: SequenceLayout
    config: TrainConfig
    run_dir: Path


def load_run(
    run_dir: str | Path,
    *,
    ecg_tokenizer: Any = None,
    checkpoint: str | None = None,
    device: str | None = None,
) -> ElmRun:
    """Load the model, both tokenizers and the layout of a run directory (latest checkpoint by default).

    ``ecg_tokenizer``: use this one instead of ``run_dir/ecg_tokenizer`` (its hash must match,
    else ``ModelError``). ``device``: where the model runs (default: the GPU if PyTorch sees one).
    """
    from ecgbyte.ecg_tokenizer import load_ecg_tokenizer
    from ecgbyte.elm.train import base_dir_of, latest_checkpoint

    run = Path(run_dir)
    if not (run / "config.json").exists() or not (run / "layout.json").exists():
        raise ModelError(f"{run}: not a training run directory (config.json/layout.json missing)")
    cfg = TrainConfig.load(run / "config.json")
    layout = SequenceLayout.from_dict(json.loads((run / "layout.json").read_text()))
    ecg_tok = ecg_tokenizer if ecg_tokenizer is not None else load_ecg_tokenizer(run / "ecg_tokenizer")
    layout.check_tokenizer(tokenizer_hash(ecg_tok), where=str(run))
    ckpt = run / "checkpoints" / checkpoint if checkpoint else latest_checkpoint(run)
    if ckpt is None or not ckpt.is_dir():
        raise ModelError(f"{run}: no checkpoint found; train first (ecgbyte train)")
    model = M.load_weights(ckpt / "weights", cfg, base_dir=base_dir_of(cfg, run), layout=layout)
    model = ecg_tok.restore_model(model, ckpt / "weights")
    model.to(device or M.default_device()).eval()
    return ElmRun(model, M.load_text_tokenizer(run / "text_tokenizer"), ecg_tok, layout, cfg, run)


def generate_answers(
    model: Any,
    text_tokenizer: Any,
    examples: Sequence[Example],
    layout: SequenceLayout,
    *,
    batch_size: int = 16,
    max_new_tokens: int = 16,
    num_beams: int = 1,
) -> list[str]:
    """Decode one answer per example (prompt = ``input_ids[:prompt_len]``), in input order."""
    import torch

    device = next(model.parameters()).device
    suppress = list(range(layout.ecg_start_id, layout.vocab_size))
    suppress = [i for i in suppress if i != layout.eos_id]
    out: list[str] = []
    for s in range(0, len(examples), batch_size):
        chunk = examples[s : s + batch_size]
        batch = collate(chunk, layout.pad_id, prompt_only=True)
        extra = {"ecg_features": batch["ecg_features"].to(device)} if "ecg_features" in batch else {}
        with torch.no_grad():
            gen = model.generate(
                **extra,
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                do_sample=False,
                eos_token_id=layout.eos_id,
                pad_token_id=layout.pad_id,
                suppress_tokens=suppress,
            )
        new = gen[:, batch["input_ids"].shape[1] :]
        out.extend(text_tokenizer.decode(row, skip_special_tokens=True).strip() for row in new.tolist())
    return out


def predict(
    run: ElmRun,
    items: Sequence[QAItem],
    *,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    cache: EncodedCache | None = None,
) -> list[dict[str, Any]]:
    """Answer every item; rows ``{item_id, question_type, question, reference, prediction, n_cut}``."""
    from ecgbyte.elm.train import make_builder

    cfg = run.config
    builder = make_builder(cfg, run.layout, run.text_tokenizer)
    cache = cache or EncodedCache(run.ecg_tokenizer)
    examples = build_examples(items, builder, cache, with_answer=False)
    preds = generate_answers(
        run.model,
        run.text_tokenizer,
        examples,
        run.layout,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens or cfg.max_new_tokens,
        num_beams=num_beams or cfg.num_beams,
    )
    return [
        {
            "item_id": it.item_id,
            "question_type": it.question_type,
            "question": it.question,
            "reference": it.answer,
            "prediction": p,
            "n_cut": ex.n_cut,
        }
        for it, ex, p in zip(items, examples, preds)
    ]


def accuracy_by_type(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Exact-match accuracy (case- and space-insensitive) per question type and ``"all"``."""

    def norm(s: str) -> str:
        return " ".join(s.lower().split())

    groups: dict[str, list[bool]] = {}
    for r in rows:
        hit = norm(r["prediction"]) == norm(r["reference"])
        groups.setdefault(r["question_type"], []).append(hit)
        groups.setdefault("all", []).append(hit)
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}
