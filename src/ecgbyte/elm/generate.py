"""Batched answer generation from a trained run (a :class:`~ecgbyte.elm.run.RunDir`), and ``ask``.

Prompts are the training sequences without the answer (same layout, same truncation policy),
left-padded into batches; ``model.generate`` decodes greedily (``num_beams=1``), with beam
search, or by sampling (``do_sample=True``), using the KV cache. Marker and ECG ids are
suppressed in the output, which is text only.

Sampling is what the original ECG-Byte evaluation did, without asking for it: its
``llm.generate`` call set no decoding option, so the base model's ``generation_config.json``
applied; for Llama-3.2-1B that is ``do_sample=True, temperature=0.6, top_p=0.9``, and
transformers 4.46 (the version it ships) adds ``top_k=50``. :data:`PAPER_SAMPLING` pins those
values, whatever the model's own generation config says. A sampled pass is seeded before its first
batch (the generators ``torch.manual_seed`` would seed: the CPU's, and the model's GPU when it
runs on one), inside ``torch.random.fork_rng``, so the caller's RNG state is left as it was; the
same seed, batch size and device give the same answers.
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
from ecgbyte.errors import DatasetError, ModelError
from ecgbyte.limits import MAX_BATCH_SIZE, MAX_BEAMS, MAX_NEW_TOKENS, MAX_QUESTION_CHARS, check_int

# The original's sampling (Llama-3.2-1B's generation_config.json + transformers 4.46's top_k).
PAPER_SAMPLING: dict[str, float] = {"temperature": 0.6, "top_p": 0.9, "top_k": 50}
# The original's decoding seeds (main.py: one test pass per seed, t-interval over the five).
PAPER_SEEDS: tuple[int, ...] = (0, 42, 123, 456, 789)


def check_decoding(
    batch_size: int | None = None, max_new_tokens: int | None = None, num_beams: int | None = None
) -> None:
    """Refuse decoding settings outside :mod:`ecgbyte.limits` (``None`` = not given) with a ConfigError.

    Memory grows with batch size x beams x (prompt + new tokens): ``num_beams=100000`` would
    allocate until the kernel kills the process.
    """
    if batch_size is not None:
        check_int(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
    if max_new_tokens is not None:
        check_int(max_new_tokens, "max_new_tokens", 1, MAX_NEW_TOKENS)
    if num_beams is not None:
        check_int(num_beams, "num_beams", 1, MAX_BEAMS)


def generate_answers(
    model: Any,
    text_tokenizer: Any,
    examples: Sequence[Example],
    layout: SequenceLayout,
    *,
    batch_size: int = 16,
    max_new_tokens: int = 16,
    num_beams: int = 1,
    do_sample: bool = False,
    seed: int | None = None,
    temperature: float = PAPER_SAMPLING["temperature"],
    top_p: float = PAPER_SAMPLING["top_p"],
    top_k: int = int(PAPER_SAMPLING["top_k"]),
) -> list[str]:
    """Decode one answer per example (prompt = ``input_ids[:prompt_len]``), in input order.

    ``do_sample=False`` (default): greedy, or beam search with ``num_beams > 1``.
    ``do_sample=True``: sampling with ``temperature``, ``top_p`` and ``top_k`` (default: the
    original's, :data:`PAPER_SAMPLING`), one beam, seeded by ``seed`` (required).
    """
    import contextlib

    import torch

    check_decoding(batch_size, max_new_tokens, num_beams)
    device = next(model.parameters()).device
    suppress = list(range(layout.ecg_start_id, layout.vocab_size))
    suppress = [i for i in suppress if i != layout.eos_id]
    decoding: dict[str, Any] = {"do_sample": False, "num_beams": num_beams}
    rng: Any = contextlib.nullcontext()
    on_gpu = device.type == "cuda"
    if do_sample:
        if seed is None:
            raise ModelError("sampling needs a seed (answers are deterministic by seed); pass seed=0")
        if num_beams != 1:
            raise ModelError(f"sampling decodes with one beam, got num_beams={num_beams}; pass num_beams=1")
        decoding = {
            "do_sample": True,
            "num_beams": 1,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
        }
        rng = torch.random.fork_rng(devices=[device] if on_gpu else [])
    out: list[str] = []
    with rng:
        if do_sample:
            torch.random.default_generator.manual_seed(int(seed))  # type: ignore[arg-type]
            if on_gpu:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(int(seed))  # type: ignore[arg-type]
            elif device.type != "cpu":  # another accelerator: seed it as torch.manual_seed does
                torch.manual_seed(int(seed))  # type: ignore[arg-type]
        for s in range(0, len(examples), batch_size):
            chunk = examples[s : s + batch_size]
            out.extend(
                _generate_batch(
                    model, text_tokenizer, chunk, layout, device, max_new_tokens, suppress, decoding
                )
            )
    return out


def _generate_batch(
    model: Any,
    text_tokenizer: Any,
    chunk: Sequence[Example],
    layout: SequenceLayout,
    device: Any,
    max_new_tokens: int,
    suppress: list[int],
    decoding: dict[str, Any],
) -> list[str]:
    """One left-padded batch through ``model.generate``; the decoded answers, stripped."""
    import torch

    batch = collate(chunk, layout.pad_id, prompt_only=True)
    extra = {"ecg_features": batch["ecg_features"].to(device)} if "ecg_features" in batch else {}
    with torch.no_grad():
        gen = model.generate(
            **extra,
            **decoding,
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=max_new_tokens,
            eos_token_id=layout.eos_id,
            pad_token_id=layout.pad_id,
            suppress_tokens=suppress,
        )
    new = gen[:, batch["input_ids"].shape[1] :]
    return [text_tokenizer.decode(row, skip_special_tokens=True).strip() for row in new.tolist()]


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
    do_sample: bool = False,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """Answer every item; rows ``{item_id, question_type, question, reference, prediction, n_cut}``.

    ``do_sample`` / ``seed``: sampling decoding (the original's settings), see :func:`generate_answers`.
    """
    check_decoding(batch_size, max_new_tokens, num_beams)
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
        max_new_tokens=cfg.max_new_tokens if max_new_tokens is None else max_new_tokens,
        num_beams=1 if do_sample else (cfg.num_beams if num_beams is None else num_beams),
        do_sample=do_sample,
        seed=seed,
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
    if len(question) > MAX_QUESTION_CHARS:
        raise DatasetError(
            f"the question has {len(question)} characters, more than {MAX_QUESTION_CHARS}; ask a shorter one"
        )
    paths = [records] if isinstance(records, (str, os.PathLike)) else list(records)
    if not 1 <= len(paths) <= 2:
        raise DatasetError(f"give one record (or two for a comparison question), got {len(paths)}")
    ecgs: list[Any] = [read_record(p, leads=None, fs=fs) for p in paths]
    seconds = (run.data_spec or {}).get("segment_seconds")
    if seconds:  # a run trained on segments is asked about the first one, as evaluation does
        from ecgbyte.data.items import EcgSegment

        ecgs = [EcgSegment(e, 0, float(seconds)) for e in ecgs]
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
    check_decoding(None, max_new_tokens, num_beams)
    run = RunDir.open(run, checkpoint=checkpoint)
    cfg = run.config
    example, paths = ask_prompt(run, records, question, fs=fs)
    [answer] = generate_answers(
        run.model,
        run.text_tokenizer,
        [example],
        run.layout,
        batch_size=1,
        max_new_tokens=cfg.max_new_tokens if max_new_tokens is None else max_new_tokens,
        num_beams=cfg.num_beams if num_beams is None else num_beams,
    )
    return {
        "answer": answer,
        "question": question.strip(),
        "records": [str(p) for p in paths],
        "n_prompt_tokens": example.prompt_len,
        "n_cut": example.n_cut,
        "checkpoint": run.checkpoint_path().name,
    }


__all__ = [
    "PAPER_SAMPLING",
    "PAPER_SEEDS",
    "ask",
    "ask_prompt",
    "check_decoding",
    "generate_answers",
    "predict",
    "prompt_example",
]
