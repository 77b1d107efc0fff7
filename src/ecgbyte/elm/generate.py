"""Batched answer generation from a trained run (a :class:`~ecgbyte.elm.run.RunDir`), and ``ask``.

Prompts are the training sequences without the answer (same layout, same truncation policy),
left-padded into batches; ``model.generate`` decodes greedily (``num_beams=1``) or with beam
search, using the KV cache. Marker and ECG ids are suppressed in the output, which is text only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgbyte.data.items import QAItem
from ecgbyte.data.sequences import (
    EncodedCache,
    EncodedEcg,
    Example,
    SequenceLayout,
    build_examples,
    collate,
)
from ecgbyte.elm.run import RunDir
from ecgbyte.errors import DatasetError


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


def prompt_example(
    run: RunDir, encodings: Sequence[EncodedEcg], question: str, *, item_id: str = "ask"
) -> Example:
    """The generation prompt for ``question`` about the encoded ECG(s), exactly as training builds it.

    ``ask``, ``ecgbyte prompt`` and ``ecgbyte serve`` all go through here: the run's sequence
    builder (layout, truncation policy, context) plus, for the two-stage baseline, the ECGs'
    encoder features. The prompt is ``example.input_ids[: example.prompt_len]``.
    """
    example = run.builder().build(list(encodings), question, None, item_id=item_id)
    if encodings and encodings[0].features is not None:
        example.ecg_features = np.stack([e.features for e in encodings])
    return example


def predict(
    run: RunDir | str | os.PathLike[str],
    items: Sequence[QAItem],
    *,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    cache: EncodedCache | None = None,
) -> list[dict[str, Any]]:
    """Answer every item; rows ``{item_id, question_type, question, reference, prediction, n_cut}``."""
    run = RunDir.open(run)
    cfg = run.config
    cache = cache or EncodedCache(run.ecg_tokenizer)
    examples = build_examples(items, run.builder(), cache, with_answer=False)
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


def ask_prompt(
    run: RunDir,
    records: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    question: str,
    *,
    fs: float | None = None,
) -> tuple[Example, list[str | os.PathLike[str]]]:
    """The prompt :func:`ask` answers (and ``ecgbyte prompt`` prints): ``(example, record paths)``.

    Checks the question (non-empty) and the number of records (one, or two for a comparison),
    reads the records (``fs`` for ``.npy``) and builds the prompt with :func:`prompt_example`.
    """
    from ecgbyte.io import read_record

    if not isinstance(question, str) or not question.strip():
        raise DatasetError("the question is empty; ask something about the ECG")
    paths = [records] if isinstance(records, (str, os.PathLike)) else list(records)
    if not 1 <= len(paths) <= 2:
        raise DatasetError(f"give one record (or two for a comparison question), got {len(paths)}")
    ecgs = [read_record(p, leads=None, fs=fs) for p in paths]
    cache = EncodedCache(run.ecg_tokenizer)
    return prompt_example(run, [cache.get(e) for e in ecgs], question.strip()), paths


def ask(
    run: RunDir | str | os.PathLike[str],
    records: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    question: str,
    *,
    checkpoint: str | None = None,
    fs: float | None = None,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
) -> dict[str, Any]:
    """Answer ``question`` about the ECG record(s) with a trained run (``ecgbyte ask``).

    Parameters
    ----------
    run : a training run directory (``ecgbyte train --out``) or an open :class:`RunDir`.
    records : one record path (WFDB ``.hea``/stem, ``.npy`` with ``fs``, ``.npz``), or two for a
        comparison question (in the order the question names them).
    question : the question text (non-empty).
    checkpoint : a checkpoint name under ``RUN/checkpoints`` (default: the latest).
    fs : sampling rate in Hz, required for ``.npy`` records.
    max_new_tokens, num_beams : decoding (default: the run's config; 1 beam = greedy).

    Returns
    -------
    dict with ``answer`` (text), ``question``, ``records``, ``n_prompt_tokens``, ``n_cut``
    (ECG tokens removed by the run's truncation policy) and ``checkpoint``.
    """
    run = RunDir.open(run, checkpoint=checkpoint)
    cfg = run.config
    example, paths = ask_prompt(run, records, question, fs=fs)
    [answer] = generate_answers(
        run.model,
        run.text_tokenizer,
        [example],
        run.layout,
        batch_size=1,
        max_new_tokens=max_new_tokens or cfg.max_new_tokens,
        num_beams=num_beams or cfg.num_beams,
    )
    return {
        "answer": answer,
        "question": question.strip(),
        "records": [str(p) for p in paths],
        "n_prompt_tokens": example.prompt_len,
        "n_cut": example.n_cut,
        "checkpoint": run.checkpoint_path().name,
    }


__all__ = ["ask", "ask_prompt", "generate_answers", "predict", "prompt_example"]
