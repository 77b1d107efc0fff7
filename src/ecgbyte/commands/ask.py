"""Answer one question about one ECG record (or two, for comparison questions) with a trained run.

Example::

    ecgbyte ask runs/tiny ptb-xl/records500/00000/00002_hr "What is the rhythm of this ECG?"
    ecgbyte ask runs/qa first.hea "What changed in the second ECG?" --second-record second.hea

The run directory's ECG tokenizer, text tokenizer, layout, config (truncation policy, context
length, decoding defaults) and latest checkpoint are used exactly as in ``ecgbyte generate``:
the prompt is the training sequence without the answer. Python: ``ecgbyte.ask``.
"""

from __future__ import annotations

import argparse
import json

from ecgbyte import cli_args

NAME = "ask"
HELP = "answer one question about one ECG record with a trained run"
ORDER = 62


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (from `ecgbyte train --out`)")
    p.add_argument("record", help="ECG record: WFDB .hea or record stem, .npy (with --fs) or .npz")
    p.add_argument("question", help="question text, quoted")
    p.add_argument("--second-record", default=None, help="second ECG for a comparison question")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint name under RUN_DIR/checkpoints (default: latest)"
    )
    p.add_argument(
        "--fs", type=cli_args.rate_hz, default=None, help="sampling rate in Hz (required for .npy records)"
    )
    p.add_argument(
        "--max-new-tokens", type=cli_args.max_new_tokens, default=None, help="default: the run's config"
    )
    p.add_argument(
        "--num-beams", type=cli_args.num_beams, default=None, help="1 = greedy (default: the run's config)"
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON instead of the answer")


def run(args: argparse.Namespace) -> int:
    records = [args.record] + ([args.second_record] if args.second_record else [])
    from ecgbyte.elm.generate import ask

    result = ask(
        args.run_dir,
        records,
        args.question,
        checkpoint=args.checkpoint,
        fs=args.fs,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
    )
    print(json.dumps(result, indent=2) if args.json else result["answer"])
    return 0
