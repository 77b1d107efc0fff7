"""Train an ECG language model on ECG-Byte tokens + text.

Examples::

    ecgbyte train --data synthetic --model tiny --out runs/tiny            # CPU, minutes
    ecgbyte train --data synthetic --model tiny --out runs/tiny --resume   # after a kill
    ecgbyte train --data synthetic --preset paper --model /models/Llama-3.2-1B --out runs/paper
    accelerate launch -m ecgbyte.cli train ...                             # several GPUs

The run directory gets config.json, layout.json, both tokenizers, log.jsonl and checkpoints.
Without --ecg-tokenizer, a tokenizer is trained on the training split's ECGs first.

Two-stage baseline (issue 7): ``--ecg-input encoder`` replaces the ECG-Byte tokens by k soft
tokens from a frozen 1-D ResNet encoder (``ecgbyte.elm.two_stage``). Stage 1 (self-supervised
pretraining on the training ECGs: ECG-report contrastive if every ECG has ``meta["report"]``,
masked-signal reconstruction otherwise) runs first, its wall time in ``OUT/stage1.json``;
``--ecg-tokenizer DIR`` then names a pretrained encoder directory instead::

    ecgbyte train --data synthetic --leads I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6 \
        --ecg-input encoder --soft-tokens 8 --out runs/two_stage
"""

from __future__ import annotations

import argparse
import json

from ecgbyte import cli_args, limits

NAME = "train"
HELP = "train an ECG language model (tiny Llama or a local HF model; LoRA or full)"
ORDER = 60


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ecgbyte.ecg_tokenizer import ECG_INPUTS

    p.add_argument(
        "--data",
        default="synthetic",
        help="dataset: synthetic, ecgqa, ecgchat or ptbxl_reports (default: synthetic)",
    )
    p.add_argument(
        "--data-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, repeatable; e.g. ecgqa: --data-arg ecgqa_dir=ecg-qa/ptbxl "
        "--data-arg records=ptb-xl; ecgchat: json=..., root=...; ptbxl_reports: ptbxl_dir=...",
    )
    p.add_argument(
        "--model",
        default=None,
        help="'tiny' or a local HF causal-LM directory (baby preset: tiny; the paper preset needs a folder)",
    )
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    p.add_argument(
        "--preset",
        default="baby",
        choices=("baby", "paper"),
        help="baby: the CPU demo's recipe; paper: the original's (Adam, noam, LoRA with frozen rows, "
        "12 leads at 250 Hz, 3500 merges, 2 s segments); flags override it (default: baby)",
    )
    p.add_argument("--config", default=None, help="TrainConfig JSON (overrides the preset)")
    p.add_argument("--ecg-tokenizer", default=None, help="ECGByteTokenizer directory (default: train one)")
    p.add_argument(
        "--n-ecgs",
        type=cli_args.positive_int(10_000_000),
        default=1200,
        help="synthetic data: number of ECGs",
    )
    p.add_argument(
        "--fs",
        type=cli_args.rate_hz,
        default=None,
        help="sampling rate after preprocessing, Hz (default: paper 250; baby 50 on synthetic data, 250 on records)",
    )
    p.add_argument(
        "--leads",
        type=cli_args.lead_list,
        default=None,
        help="comma-separated leads the model sees (default: paper all 12; baby II,V1)",
    )
    p.add_argument(
        "--n-merges",
        type=cli_args.int_range(0, limits.MAX_MERGES),
        default=None,
        help="BPE merges of a new ECG tokenizer (default: paper 3500; baby 1000)",
    )
    p.add_argument(
        "--segment-seconds",
        type=cli_args.float_range(0, 10, lo_open=True, unit="s"),
        default=None,
        help="cut each record into segments of this many seconds, each its own training example "
        "(paper: 2; baby: whole 10 s ECGs); evaluation asks about the first segment",
    )
    p.add_argument(
        "--finetune",
        choices=("full", "lora"),
        default=None,
        help="full fine-tuning or LoRA (default: preset's)",
    )
    p.add_argument(
        "--steps",
        type=cli_args.positive_int(10**9),
        default=None,
        help="optimizer steps (overrides --epochs)",
    )
    p.add_argument(
        "--epochs",
        type=cli_args.float_range(0, 1e6, lo_open=True),
        default=None,
        help="passes over the training split (default: preset's)",
    )
    p.add_argument(
        "--lr",
        type=cli_args.float_range(0, 1, lo_open=True),
        default=None,
        help="peak learning rate (default: preset's)",
    )
    p.add_argument(
        "--batch-size", type=cli_args.batch_size, default=None, help="sequences per step per device"
    )
    p.add_argument(
        "--grad-accum",
        type=cli_args.positive_int(limits.MAX_BATCH_SIZE),
        default=None,
        help="gradient accumulation steps",
    )
    p.add_argument(
        "--max-length",
        type=cli_args.positive_int(limits.MAX_CONTEXT_TOKENS),
        default=None,
        help="context length in tokens",
    )
    p.add_argument(
        "--max-new-tokens",
        type=cli_args.max_new_tokens,
        default=None,
        help="answer length in text tokens when generating (default: preset's; raise it for reports)",
    )
    p.add_argument("--no-truncate", action="store_true", help="error on sequences longer than the context")
    p.add_argument("--no-signal", action="store_true", help="ablation: text only, ECG tokens removed")
    p.add_argument(
        "--ecg-input",
        choices=tuple(ECG_INPUTS),
        default=None,
        help="tokens: ECG-Byte end to end (default); encoder: two-stage baseline (frozen encoder + projection)",
    )
    p.add_argument(
        "--soft-tokens",
        type=cli_args.positive_int(4096),
        default=None,
        help="encoder: soft tokens per ECG (default 8)",
    )
    p.add_argument(
        "--projector", choices=("linear", "mlp"), default=None, help="encoder: projection (default mlp)"
    )
    p.add_argument(
        "--encoder-epochs",
        type=cli_args.float_range(0, 1e6, lo_open=True),
        default=5.0,
        help="encoder: stage-1 pretraining epochs",
    )
    p.add_argument(
        "--encoder-steps",
        type=cli_args.positive_int(10**9),
        default=None,
        help="encoder: stage-1 steps (overrides epochs)",
    )
    p.add_argument(
        "--seed", type=cli_args.seed, default=0, help="seeds data, tokenizer, model init and order"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.pipeline import representation_defaults, train_elm
    from ecgbyte.errors import ConfigError

    rep = representation_defaults(args.preset, args.data)
    leads = (
        tuple(x.strip() for x in args.leads.split(",") if x.strip()) if args.leads else tuple(rep["leads"])
    )
    data = {
        "name": args.data,
        "n_ecgs": args.n_ecgs,
        "seed": args.seed,
        "target_fs": args.fs if args.fs is not None else rep["target_fs"],
        "leads": list(leads),
        **parse_data_args(args.data_arg),
    }
    seg = args.segment_seconds if args.segment_seconds is not None else rep["segment_seconds"]
    if seg is not None:
        if not 0 < seg <= 10:
            raise ConfigError(f"--segment-seconds must be in (0, 10] s (the records' length), got {seg:g}")
        data["segment_seconds"] = seg
    over = {
        k: v
        for k, v in {
            "model": args.model,
            "finetune": args.finetune,
            "max_steps": args.steps,
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "grad_accum": args.grad_accum,
            "max_length": args.max_length,
            "max_new_tokens": args.max_new_tokens,
            "ecg_input": args.ecg_input,
            "soft_tokens": args.soft_tokens,
            "projector": args.projector,
        }.items()
        if v is not None
    }
    if args.no_truncate:
        over["truncate"] = False
    if args.no_signal:
        over["no_signal"] = True
    if args.config:
        cfg = TrainConfig.load(args.config)
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **over})
    else:
        cfg = TrainConfig.preset(args.preset, seed=args.seed, keep_leads=leads, **over)
    summary = train_elm(
        cfg,
        args.out,
        data=data,
        ecg_tokenizer=args.ecg_tokenizer,
        n_merges=args.n_merges if args.n_merges is not None else rep["n_merges"],
        encoder_epochs=args.encoder_epochs,
        encoder_steps=args.encoder_steps,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))
    return 0


def parse_data_args(pairs: list[str]) -> dict:
    """``["records=ptb-xl", "strict=true"]`` -> ``{"records": "ptb-xl", "strict": True}`` (JSON values if they parse)."""
    from ecgbyte.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--data-arg {pair!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
