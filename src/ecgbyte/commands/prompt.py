"""Print the prompt of one question about one ECG record as token ids (JSON), for any engine.

Example::

    ecgbyte prompt runs/tiny ptb-xl/records500/00000/00002_hr "What is the rhythm of this ECG?"

prints ``{"prompt_token_ids": [...], "max_new_tokens": ..., "eos_token_id": ..., ...}``: the ids
`ecgbyte ask` generates from, in the form an engine's token-id prompt API takes, so a model
exported with `ecgbyte export` can be served by any server without ecgbyte on it.
``suppress_token_ids`` is the inclusive id range of the markers and ECG tokens, which the answer
never contains. --text adds the prompt spelled out in the exported tokenizer's names.
Python: ``ecgbyte.prompt_ids``.
"""

from __future__ import annotations

import argparse
import json

from ecgbyte import cli_args

NAME = "prompt"
HELP = "print the prompt of a question about an ECG record as token ids (JSON)"
ORDER = 67


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory (from `ecgbyte train --out`)")
    p.add_argument("record", help="ECG record: WFDB .hea or record stem, .npy (with --fs) or .npz")
    p.add_argument("question", help="question text, quoted")
    p.add_argument("--second-record", default=None, help="second ECG for a comparison question")
    p.add_argument(
        "--fs", type=cli_args.rate_hz, default=None, help="sampling rate in Hz (required for .npy records)"
    )
    p.add_argument(
        "--text", action="store_true", help="add prompt_text: the prompt in the exported tokenizer's names"
    )
    p.add_argument(
        "--indent", type=cli_args.int_range(0, 16), default=None, help="indent the JSON (default: one line)"
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.serve.prompt import prompt_ids

    records = [args.record] + ([args.second_record] if args.second_record else [])
    print(
        json.dumps(
            prompt_ids(args.run_dir, records, args.question, fs=args.fs, text=args.text), indent=args.indent
        )
    )
    return 0
