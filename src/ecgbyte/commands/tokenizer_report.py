"""Vocabulary statistics of a trained tokenizer: JSON + PNG.

Without --data: token length histogram and single-symbol run tokens ("aaaa"). With --data
(an `ecgbyte preprocess` output or a directory of records): also tokens per lead, tokens per
10 s of ECG, symbols per token and the share of the vocabulary in use. Writes OUT/report.json
and OUT/report.png.

Example:
  ecgbyte tokenizer-report tok/ --data out/ptbxl --out tok/report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecgbyte import cli_args

NAME = "tokenizer-report"
HELP = "vocabulary statistics and plot of a trained tokenizer"
ORDER = 34


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tokenizer_dir", metavar="TOKENIZER_DIR", help="directory written by train-tokenizer")
    p.add_argument("--data", default=None, help="shards or records to encode for per-lead/per-10 s counts")
    p.add_argument(
        "--max-ecgs",
        type=cli_args.positive_int(1_000_000),
        default=200,
        help="encode at most this many ECGs of --data",
    )
    p.add_argument("--encoder", choices=("bpe", "greedy"), default=None, help="default: the tokenizer's")
    p.add_argument("--out", type=Path, required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.tokenizer_tasks import report_tokenizer

    rep = report_tokenizer(
        args.tokenizer_dir, args.out, data=args.data, max_ecgs=args.max_ecgs, encoder=args.encoder
    )
    v = rep["vocab"]
    print(json.dumps({"vocab_size": v["vocab_size"], "run_tokens": v["run_tokens"], "files": rep["files"]}))
    return 0
