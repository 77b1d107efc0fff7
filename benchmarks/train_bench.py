"""ECG language model throughput: our training loop vs a plain HF ``Trainer``, and batched generation.

One run, one machine, the same data and model for every row:

1. **Data**: the synthetic QA of ``ecgbyte demo`` (``synthetic_splits``: lead II, 10 s, resampled
   to ``--fs`` Hz, balanced rate/rhythm labels), an ``ECGByteTokenizer`` with ``--merges`` merges
   trained on the training split, sequences built once (``build_examples``) with the demo's layout.
2. **Training tokens/s** (non-padding tokens, forward + backward + AdamW step): our
   :func:`ecgbyte.elm.train.train` (accelerate; it writes a run directory and one checkpoint at the
   end) against ``transformers.Trainer`` on the *same* initial weights (the run's ``base/``), the
   same examples, padded by the same collator, the same batch size, learning rate, warmup,
   gradient clipping and number of steps. The rate in the table is the steady state after
   ``--skip`` steps (per-step marks: our ``log.jsonl``, a Trainer callback); the whole call is in
   the JSON too. The Trainer uses its default optimizer (``adamw_torch_fused``) unless
   ``--hf-optim adamw_torch`` asks for the unfused ``torch.optim.AdamW`` our loop uses. Losses are
   not comparable (last step for ours, mean over steps for the Trainer; other data order).
3. **Generation** (greedy, KV cache, ``--new-tokens`` new tokens at most, left padding):
   :func:`ecgbyte.elm.generate.generate_answers` over the test prompts with batch size 1 (the
   paper's evaluation loop answers one question at a time) and with 8, 16 and 32; answers/s and
   whether every batched answer equals the batch-1 answer (a left-padding check).

CPU threads are fixed with ``--threads`` (1 by default: on a loaded 2-core machine a second thread
slowed these tiny models down). Prints a markdown table and writes JSON (``--out``).

Usage::

    .venv/bin/python benchmarks/train_bench.py                      # ~2-4 minutes on 2 cores
    .venv/bin/python benchmarks/train_bench.py --steps 10 --n-ecgs 120 --batches 1,8   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n-ecgs", type=int, default=400, help="synthetic ECGs (default: %(default)s)")
    p.add_argument(
        "--fs", type=float, default=50.0, help="sampling rate after preprocessing, Hz (default: %(default)s)"
    )
    p.add_argument("--merges", type=int, default=300, help="ECG tokenizer merges (default: %(default)s)")
    p.add_argument("--steps", type=int, default=40, help="optimizer steps per trainer (default: %(default)s)")
    p.add_argument(
        "--skip",
        type=int,
        default=5,
        help="first steps left out of the steady-state rate (default: %(default)s)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="training batch size (default: %(default)s)")
    p.add_argument("--batches", default="1,8,16,32", help="generation batch sizes (default: %(default)s)")
    p.add_argument("--n-gen", type=int, default=64, help="test prompts to answer (default: %(default)s)")
    p.add_argument(
        "--new-tokens", type=int, default=8, help="max new tokens per answer (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument(
        "--hf-optim",
        default=None,
        help="TrainingArguments.optim for the HF Trainer (default: its own, adamw_torch_fused; "
        "adamw_torch matches our loop's torch.optim.AdamW)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", default=str(HERE / "results" / "train_bench.json"), help="JSON path (default: %(default)s)"
    )
    return p.parse_args()


def _steady(marks: list[tuple[int, float]], skip: int) -> float:
    """Tokens/s from the end of step ``skip`` to the last step; ``marks`` = per-step (cumulative tokens, seconds).

    With ``skip`` 0 (or not fewer steps than marks) the whole loop counts.
    """
    base = marks[skip - 1] if 0 < skip < len(marks) else (0, 0.0)
    tokens, seconds = marks[-1]
    return (tokens - base[0]) / max(seconds - base[1], 1e-9)


def _ours_marks(run_dir: Path) -> list[tuple[int, float]]:
    """Per-step (cumulative tokens, seconds since the loop started) from the run's log.jsonl (log_every=1)."""
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines() if x.strip()]
    return [(r["tokens"], r["tokens"] / r["tokens_per_s"]) for r in rows]


def _hf_trainer(
    base_dir: Path, examples: list, pad_id: int, cfg: Any, out_dir: Path, optim: str | None
) -> dict[str, Any]:
    """Train a copy of the base model with ``transformers.Trainer``; tokens counted at the model's input."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from ecgbyte.data.sequences import collate

    seen = {"tokens": 0}
    marks: list[tuple[int, float]] = []
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))

    def count(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        if torch.is_grad_enabled():
            seen["tokens"] += int(kwargs["attention_mask"].sum())

    model.register_forward_pre_hook(count, with_kwargs=True)

    class Marks(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            marks.append((seen["tokens"], time.perf_counter() - self.t0))

    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.batch_size,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        adam_beta1=cfg.betas[0],
        adam_beta2=cfg.betas[1],
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="constant_with_warmup",
        max_grad_norm=cfg.grad_clip,
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_drop_last=True,
        **({"optim": optim} if optim else {}),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=examples,
        callbacks=[Marks()],
        data_collator=lambda batch: collate(batch, pad_id, padding_side="right"),
    )
    t0 = time.perf_counter()
    result = trainer.train()
    wall = time.perf_counter() - t0
    return {
        "tokens": seen["tokens"],
        "train_s": wall,
        "tokens_per_s": seen["tokens"] / wall,
        "final_loss": float(result.training_loss),
        "optim": str(getattr(args.optim, "value", args.optim)),
        "marks": marks,
    }


def main() -> int:
    args = _parse()
    import numpy as np
    import torch
    import transformers

    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.data.sequences import EncodedCache, build_examples
    from ecgbyte.data.synthetic_qa import preprocess_config_for, synthetic_splits
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.generate import generate_answers
    from ecgbyte.elm.run import load_run, make_builder
    from ecgbyte.elm.train import train
    from ecgbyte.tokenizer import ECGByteTokenizer

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    t = time.perf_counter()
    splits = synthetic_splits(args.n_ecgs, seed=args.seed, target_fs=args.fs, leads=("II",))
    ecgs = unique_ecgs(splits["train"])
    tok = ECGByteTokenizer.train(
        ecgs, n_merges=args.merges, leads=("II",), preprocess=preprocess_config_for(args.fs), seed=args.seed
    )
    data_s = time.perf_counter() - t
    cfg = TrainConfig.preset(
        "baby",
        keep_leads=("II",),
        max_length=512,
        max_steps=args.steps,
        batch_size=args.batch_size,
        schedule="constant",
        warmup_steps=min(10, args.steps),
        seed=args.seed,
        log_every=max(1, args.steps),
        precision="fp32",
        max_new_tokens=args.new_tokens,
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        ours = train(cfg, splits["train"], ecg_tokenizer=tok, run_dir=run_dir, progress=False)
        rows.append(
            {
                "what": "train",
                "impl": "ecgbyte.elm.train (accelerate)",
                "batch": cfg.batch_size,
                "steps": ours["steps"],
                "tokens": ours["tokens"],
                "seconds": ours["train_s"],
                "tokens_per_s": ours["tokens_per_s"],
                "steady_tokens_per_s": _steady(_ours_marks(run_dir), args.skip),
                "final_loss": ours["final_loss"],
            }
        )
        run = load_run(run_dir, ecg_tokenizer=tok)
        builder = make_builder(cfg, run.layout, run.text_tokenizer)
        examples = build_examples(splits["train"], builder, EncodedCache(tok))
        hf = _hf_trainer(run_dir / "base", examples, run.layout.pad_id, cfg, Path(tmp) / "hf", args.hf_optim)
        rows.append(
            {
                "what": "train",
                "impl": f"transformers.Trainer ({hf['optim']})",
                "batch": cfg.batch_size,
                "steps": cfg.max_steps,
                "tokens": hf["tokens"],
                "seconds": hf["train_s"],
                "tokens_per_s": hf["tokens_per_s"],
                "steady_tokens_per_s": _steady(hf["marks"], args.skip),
                "mean_loss": hf["final_loss"],
            }
        )

        prompts = build_examples(splits["test"][: args.n_gen], builder, EncodedCache(tok), with_answer=False)
        reference: list[str] | None = None
        for b in batches:
            t = time.perf_counter()
            answers = generate_answers(
                run.model,
                run.text_tokenizer,
                prompts,
                run.layout,
                batch_size=b,
                max_new_tokens=args.new_tokens,
            )
            wall = time.perf_counter() - t
            reference = answers if reference is None and b == 1 else reference
            same = None if reference is None else float(np.mean([a == r for a, r in zip(answers, reference)]))
            rows.append(
                {
                    "what": "generate",
                    "impl": "generate_answers (greedy, KV cache)",
                    "batch": b,
                    "answers": len(prompts),
                    "seconds": wall,
                    "answers_per_s": len(prompts) / wall,
                    "same_as_batch1": same,
                }
            )
    base_gen = next((r["answers_per_s"] for r in rows if r["what"] == "generate" and r["batch"] == 1), None)
    for r in rows:
        if r["what"] == "generate" and base_gen:
            r["speedup_vs_batch1"] = r["answers_per_s"] / base_gen
    ours_tps, hf_tps = rows[0]["steady_tokens_per_s"], rows[1]["steady_tokens_per_s"]
    result = {
        "rows": rows,
        "train_speedup_vs_hf_trainer": ours_tps / hf_tps,
        "train_speedup_whole_call": rows[0]["tokens_per_s"] / rows[1]["tokens_per_s"],
        "steady_state_skips_steps": args.skip,
        "setup": {
            "n_ecgs": args.n_ecgs,
            "fs": args.fs,
            "merges": args.merges,
            "ecg_vocab": tok.vocab_size,
            "n_train_items": len(splits["train"]),
            "n_test_items": len(splits["test"]),
            "model": {k: v for k, v in cfg.to_dict().items() if k.startswith("tiny_")},
            "parameters": int(sum(p.numel() for p in run.model.parameters())),
            "mean_train_len": float(np.mean([len(e.input_ids) for e in examples])),
            "mean_prompt_len": float(np.mean([e.prompt_len for e in prompts])),
            "data_s": data_s,
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "cuda": torch.cuda.is_available(),
        },
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    _write_json(Path(args.out), result)
    print(_table(rows))
    print(f"\nour loop / HF Trainer: {ours_tps / hf_tps:.2f}x tokens/s (steady state); wrote {args.out}")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| what | implementation | batch | throughput | seconds | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["what"] == "train":
            lines.append(
                f"| train | {r['impl']} | {r['batch']} | {r['steady_tokens_per_s']:.0f} tokens/s | "
                f"{r['seconds']:.1f} | {r['steps']} steps; whole call {r['tokens_per_s']:.0f} tokens/s; "
                + (
                    f"last-step loss {r['final_loss']:.3f} |"
                    if "final_loss" in r
                    else f"mean loss {r['mean_loss']:.3f} |"
                )
            )
        else:
            same = (
                "" if r["same_as_batch1"] is None else f", {100 * r['same_as_batch1']:.0f}% = batch-1 answers"
            )
            lines.append(
                f"| generate | {r['impl']} | {r['batch']} | {r['answers_per_s']:.1f} answers/s | "
                f"{r['seconds']:.1f} | x{r.get('speedup_vs_batch1', 1.0):.1f} vs batch 1{same} |"
            )
    return "\n".join(lines)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
