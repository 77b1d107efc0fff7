"""The training loop for ECG language models, on accelerate (CPU, one GPU, or many; read top to bottom).

:func:`train` writes a run directory (its layout is described in :mod:`ecgbyte.elm.run`, whose
``RunDir`` every consumer uses to read it back) and trains the model on prepared QA items. The
``ecgbyte train`` pipeline around it (dataset, ECG tokenizer, then this loop) is
:func:`ecgbyte.elm.pipeline.train_elm`.

Exact resume: the data order is a pure function of ``(seed, epoch)`` (a fresh
``np.random.default_rng(seed + epoch)`` permutation per epoch), the learning rate a pure function
of the step (:func:`~ecgbyte.elm.config.lr_at`), and the checkpoint holds the weights, the AdamW
state and the torch RNG state (:mod:`ecgbyte.elm.checkpoint`); so a run killed after a checkpoint
and resumed with ``resume=True`` ends with the same parameters as an uninterrupted run.
Multi-GPU: ``accelerate launch -m ecgbyte.cli train ...`` (or ``torchrun``); each process takes
its slice of every global batch.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.data.items import QAItem
from ecgbyte.data.sequences import (
    IGNORE_INDEX,
    EncodedCache,
    Example,
    SequenceLayout,
    build_examples,
    collate,
    lead_coverage,
)
from ecgbyte.ecg_tokenizer import EcgTokenizer
from ecgbyte.elm import model as M
from ecgbyte.elm.checkpoint import load_checkpoint_weights, load_training_state, save_checkpoint
from ecgbyte.elm.config import CADENCE_FIELDS, TrainConfig, lr_at, resolve_noam
from ecgbyte.elm.run import RunDir, claim_run_dir, latest_checkpoint, make_builder
from ecgbyte.errors import ConfigError, DatasetError, ModelError
from ecgbyte.fileio import atomic_write_text, write_json
from ecgbyte.locks import holds_writer_lock

log = logging.getLogger(__name__)


def prepare_run(
    cfg: TrainConfig, train_items: Sequence[QAItem], ecg_tokenizer: EcgTokenizer, run_dir: Path
) -> tuple[Any, Any, SequenceLayout]:
    """Fresh run: write config, tokenizers, layout (and the tiny base model); return (model, text_tok, layout)."""
    if cfg.model != "tiny":
        M.check_model_path(cfg.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / "config.json")
    if cfg.model == "tiny":
        texts = [t for it in train_items for t in (it.question, it.answer)]
        text_tok = M.train_text_tokenizer(texts, vocab_size=cfg.text_vocab_size)
    else:
        text_tok = M.load_text_tokenizer(cfg.model)
    leads = cfg.keep_leads or tuple(ecg_tokenizer.leads)
    layout = M.add_markers(
        text_tok,
        ecg_vocab_size=ecg_tokenizer.vocab_size,
        tokenizer_hash=ecg_tokenizer.hash(),
        lead_names=leads if cfg.lead_markers else None,
    )
    text_tok.save_pretrained(str(run_dir / "text_tokenizer"))
    ecg_tokenizer.save_pretrained(run_dir / "ecg_tokenizer")
    write_json(run_dir / "layout.json", layout.to_dict())
    if cfg.model == "tiny":
        model = M.build_tiny_llama(cfg, layout)
        model.save_pretrained(str(run_dir / "base"), safe_serialization=True)
    else:
        model = M.load_base_model(cfg.model)
        M.resize_for_ecg(model, layout, init=cfg.new_rows_init, seed=cfg.seed)
    import torch

    torch.manual_seed(cfg.seed)  # LoRA's random init (kaiming A) is seeded too
    model = M.apply_finetuning(model, cfg, new_rows=range(M.first_new_row(layout), layout.vocab_size))
    # the ECG tokenizer adds what its input needs (two-stage: a projector from encoder features)
    return ecg_tokenizer.wrap_model(model, cfg, layout), text_tok, layout


def batch_indices(
    step: int, micro: int, cfg: TrainConfig, n: int, *, rank: int = 0, world: int = 1
) -> np.ndarray:
    """Example indices of micro-batch ``micro`` of optimizer step ``step`` for process ``rank``.

    Global micro-batch ``m = step * grad_accum + micro`` of ``batch_size * world`` examples; epoch
    ``e`` uses the permutation ``default_rng(seed + e).permutation(n)``; the last partial batch of
    an epoch is dropped (so every batch has the same size).
    """
    gb = cfg.batch_size * world
    per_epoch = n // gb
    if per_epoch == 0:
        raise DatasetError(f"{n} training examples < one global batch of {gb}; lower batch_size")
    m = step * cfg.grad_accum + micro
    epoch, pos = divmod(m, per_epoch)
    perm = np.random.default_rng(cfg.seed + epoch).permutation(n)
    chunk = perm[pos * gb : (pos + 1) * gb]
    return chunk[rank * cfg.batch_size : (rank + 1) * cfg.batch_size]


def total_steps_of(cfg: TrainConfig, n: int, world: int = 1) -> int:
    if cfg.max_steps:
        return cfg.max_steps
    return max(1, math.floor(cfg.epochs * (n // (cfg.batch_size * world)) / cfg.grad_accum))


@holds_writer_lock("run_dir", "train")
def train(
    cfg: TrainConfig,
    train_items: Sequence[QAItem],
    *,
    ecg_tokenizer: EcgTokenizer,
    run_dir: str | Path,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train (or resume) an ECG language model on ``train_items``; returns a summary dict.

    Parameters
    ----------
    cfg : the run's config (on resume, the one in ``run_dir/config.json`` is used and must match).
    train_items : QA items of the training split.
    ecg_tokenizer : a trained ECG tokenizer (:class:`ecgbyte.ecg_tokenizer.EcgTokenizer`); on resume
        its hash must match the run's.
    run_dir : run directory (see :mod:`ecgbyte.elm.run`); one writer at a time
        (:mod:`ecgbyte.locks`), and it must be new, empty or an ecgbyte run.
    resume : continue from ``latest.json``'s checkpoint.
    stop_after : stop (with a checkpoint) after this optimizer step, as if killed; for tests.
    cache_dir : optional on-disk cache of encoded ECGs (``.npz`` per record and tokenizer).
    """
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    if cfg.model != "tiny":
        M.check_model_path(cfg.model)
    cfg = resolve_noam(cfg)  # the noam schedule's width comes from the model, stored in config.json
    claim_run_dir(run_dir, resume=resume)  # refuses a folder that is not an ecgbyte run
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        raise ModelError(f"{run_dir}: nothing to resume (no latest.json); drop --resume to start fresh")
    if not resume and (run_dir / "latest.json").exists():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume or choose a new --out")
    bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    trackers = _trackers()
    # cpu=True when there is no GPU: then `torchrun`/`accelerate launch` with several processes trains
    # with DDP over gloo on CPUs (accelerate otherwise leaves each CPU process alone, racing on run_dir)
    from accelerate.state import AcceleratorState

    # accelerate keeps its precision in a process-wide singleton and refuses a second Accelerator with
    # another one; a run's precision is its own, so forget the last run's (the process group stays)
    AcceleratorState._reset_state(reset_partial_state=False)
    acc = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision="bf16" if bf16 else "no",
        log_with=trackers or None,
        project_dir=str(run_dir),
    )
    if ckpt is not None:
        run = RunDir(run_dir, ecg_tokenizer=ecg_tokenizer)
        _ = run.ecg_tokenizer  # checks its hash against the run's layout
        if _identity(run.config) != _identity(cfg):
            raise ConfigError(
                f"{run_dir}: the config differs from the run's config.json; resume with the same options"
            )
        layout, text_tok = run.layout, run.text_tokenizer
        model = load_checkpoint_weights(
            lambda: ecg_tokenizer.restore_model(
                M.load_weights(
                    ckpt / "weights", cfg, base_dir=run.base_dir, layout=layout, is_trainable=True
                ),
                ckpt / "weights",
                is_trainable=True,
            ),
            ckpt,
        )
    else:
        with acc.main_process_first():  # the main process writes the run's files, then the others read
            model, text_tok, layout = prepare_run(cfg, train_items, ecg_tokenizer, run_dir)

    cache = EncodedCache(ecg_tokenizer, cache_dir)
    examples = build_examples(train_items, make_builder(cfg, layout, text_tok), cache)
    n_cut = sum(ex.n_cut for ex in examples)
    n_long = _warn_long_answers(examples, cfg.max_new_tokens, run_dir)
    coverage = _report_coverage(examples, cfg, run_dir, main=acc.is_main_process)

    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(torch, params, cfg)
    start_step = load_training_state(ckpt, opt) if ckpt is not None else 0
    model, opt = acc.prepare(model, opt)
    model.train()
    if trackers:
        acc.init_trackers("ecgbyte", config={k: str(v) for k, v in cfg.to_dict().items()})

    total = total_steps_of(cfg, len(examples), acc.num_processes)
    end = total if stop_after is None else min(total, stop_after)
    log_path = run_dir / "log.jsonl"
    _truncate_log(log_path, start_step)
    bar = tqdm(
        range(start_step, end),
        initial=start_step,
        total=total,
        disable=not (progress and acc.is_main_process),
        desc="train",
    )
    t0, tokens, loss_sum, loss_n, last = time.perf_counter(), 0, 0.0, 0, float("nan")
    last_save = time.monotonic()
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, total)
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            idx = batch_indices(
                step, micro, cfg, len(examples), rank=acc.process_index, world=acc.num_processes
            )
            cpu_batch = collate([examples[i] for i in idx], layout.pad_id, padding_side="right")
            tokens += int(cpu_batch["attention_mask"].sum())
            batch = {k: v.to(acc.device, non_blocking=True) for k, v in cpu_batch.items()}
            sync = nullcontext() if micro == cfg.grad_accum - 1 else acc.no_sync(model)
            with sync, acc.autocast():
                loss = M.answer_loss(model, batch) / cfg.grad_accum
                acc.backward(loss)
            step_loss += loss.detach()  # a device tensor: read back only when logged
        if cfg.grad_clip > 0:
            acc.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_sum, loss_n = loss_sum + step_loss, loss_n + 1
        tps = tokens / max(time.perf_counter() - t0, 1e-9)
        done = step + 1
        logged = cfg.log_every and (done % cfg.log_every == 0 or done == end)
        if logged or done == end:  # the one GPU -> CPU sync of the step, when it is needed
            last = float(step_loss)
            loss_sum = float(loss_sum)
            bar.set_postfix(loss=f"{last:.4f}", tok_s=f"{tps:.0f}")
        if logged and acc.is_main_process:
            row = {
                "step": done,
                "loss": loss_sum / loss_n,
                "lr": lr_at(step, cfg, total),
                "tokens": tokens,
                "tokens_per_s": round(tps, 1),
                "n_cut_tokens": n_cut,
            }
            with log_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            if trackers:
                acc.log(row, step=done)
            loss_sum, loss_n = 0.0, 0
        if _save_due(acc, cfg, done, end, last_save):
            save_checkpoint(acc, model, opt, run_dir, done, total)
            last_save = time.monotonic()
    bar.close()
    if trackers:
        acc.end_training()
    wall = time.perf_counter() - t0
    return {
        "run_dir": str(run_dir),
        "steps": end,
        "total_steps": total,
        "final_loss": last,
        "tokens": tokens,
        "tokens_per_s": tokens / max(wall, 1e-9),
        "train_s": wall,
        "n_examples": len(examples),
        "n_cut_tokens": n_cut,
        "n_ecgs_encoded": cache.n_encoded,
        "n_answers_over_max_new_tokens": n_long,
        "lead_coverage": coverage,
        "device": str(acc.device),
        "mixed_precision": acc.mixed_precision,
    }


def _identity(cfg: TrainConfig) -> dict[str, Any]:
    """What a resumed run must share with its config.json: all but the checkpoint cadence."""
    return {k: v for k, v in cfg.to_dict().items() if k not in CADENCE_FIELDS}


def _save_due(acc: Any, cfg: TrainConfig, done: int, end: int, last_save: float) -> bool:
    """Checkpoint after step ``done``? Every ``save_every`` steps, when ``save_minutes`` passed since
    the last one, and at the end; the main process decides the timed ones for all processes."""
    if done == end or (cfg.save_every and done % cfg.save_every == 0):
        return True
    if not cfg.save_minutes:
        return False
    due = time.monotonic() - last_save >= 60.0 * cfg.save_minutes
    if acc.num_processes > 1:  # clocks differ: every process must take the same branch
        from accelerate.utils import broadcast_object_list

        due = bool(broadcast_object_list([due], from_process=0)[0])
    return due


def _report_coverage(examples: Sequence[Example], cfg: TrainConfig, run_dir: Path, *, main: bool) -> dict:
    """Per lead, how many seconds of each ECG survive the context (logged, in ``RUN/coverage.json``);
    a warning when less than the whole ECG reaches the model."""
    data = cfg.extra.get("data") or {}
    full = float(data.get("segment_seconds") or data.get("record_seconds") or 10.0)
    cov = lead_coverage(examples, full)
    if not cov:
        return cov
    text = ", ".join(f"{n} {c['mean_seconds']:.2f}" for n, c in cov.items())
    log.info("%s: seconds of each %g s ECG the model sees, per lead (mean): %s", run_dir, full, text)
    short = {n: c for n, c in cov.items() if c["whole_fraction"] < 1.0}
    if short:
        cut = ", ".join(
            f"{n} (whole in {100 * c['whole_fraction']:.0f}% of ECGs, {c['mean_seconds']:.2f} s on average)"
            for n, c in short.items()
        )
        log.warning(
            "%s: the context (max_length=%d) cuts leads %s; shorten the ECG (--segment-seconds, fewer "
            "leads, a lower rate) or raise --max-length",
            run_dir, cfg.max_length, cut,
        )  # fmt: skip
    if main:
        write_json(run_dir / "coverage.json", {"full_seconds": full, "leads": cov})
    return cov


def _warn_long_answers(examples: Sequence[Example], max_new_tokens: int, run_dir: Path) -> int:
    """Count (and warn about) training answers that generation with ``max_new_tokens`` would cut."""
    lengths = [sum(1 for t in ex.labels if t != IGNORE_INDEX) for ex in examples]  # answer + <eos>
    n_long = sum(n > max_new_tokens for n in lengths)
    if n_long:
        log.warning(
            "%s: %d of %d training answers are longer than max_new_tokens=%d text tokens (longest %d, "
            "<eos> included); generation will cut them: raise --max-new-tokens",
            run_dir, n_long, len(lengths), max_new_tokens, max(lengths),
        )  # fmt: skip
    return n_long


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint a resumed run restarts from)."""
    if not path.exists():
        return
    rows = []
    for ln in path.read_text(errors="replace").splitlines():
        try:
            keep = json.loads(ln)["step"] <= step
        except (ValueError, KeyError, TypeError):  # a line cut by a kill: dropped
            keep = False
        if keep:
            rows.append(ln)
    atomic_write_text(path, "".join(r + "\n" for r in rows))


def _trackers() -> list[str]:
    import importlib.util
    import os

    out = []
    if importlib.util.find_spec("tensorboard") is not None:
        out.append("tensorboard")
    if os.environ.get("WANDB_PROJECT") and importlib.util.find_spec("wandb") is not None:
        out.append("wandb")
    return out


def _optimizer(torch: Any, params: list, cfg: TrainConfig) -> Any:
    """AdamW (decoupled weight decay) or Adam (L2 in the gradient, the original's), fused into one
    kernel where this torch build supports it for these tensors.

    The fused kernel is ~1.7x faster per step for the tiny CPU model (benchmarks/train_bench.py)
    and computes the same update; older builds or devices without it get the default path.
    """
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):
        return cls(params, **kwargs)


__all__ = ["batch_indices", "prepare_run", "total_steps_of", "train"]
