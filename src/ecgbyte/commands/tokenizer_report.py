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
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NAME = "tokenizer-report"
HELP = "vocabulary statistics and plot of a trained tokenizer"
ORDER = 34

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tokenizer_dir", metavar="TOKENIZER_DIR", help="directory written by train-tokenizer")
    p.add_argument("--data", default=None, help="shards or records to encode for per-lead/per-10 s counts")
    p.add_argument("--max-ecgs", type=int, default=200, help="encode at most this many ECGs of --data")
    p.add_argument("--encoder", choices=("bpe", "greedy"), default=None, help="default: the tokenizer's")
    p.add_argument("--out", type=Path, required=True, help="output directory")


def report_tokenizer(
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    max_ecgs: int = 200,
    encoder: str | None = None,
) -> dict[str, Any]:
    """What ``ecgbyte tokenizer-report`` does; returns the report dict."""
    from ecgbyte.commands.train_tokenizer import _is_shards, load_training_ecgs
    from ecgbyte.tokenizer import ECGByteTokenizer
    from ecgbyte.viz.tokenizer_report import tokenizer_report

    tok = ECGByteTokenizer.from_pretrained(tokenizer_dir)
    ecgs = None
    if data is not None:
        src = Path(data)
        if _is_shards(src):
            ecgs, _, _ = load_training_ecgs(src)
            ecgs = ecgs[:max_ecgs]
        else:
            ecgs = list(_read_records(src, tok.leads, max_ecgs))
    return tokenizer_report(tok, out_dir, ecgs=ecgs, encoder=encoder)


def _read_records(src: Path, leads: tuple[str, ...], max_ecgs: int) -> Iterator[Any]:
    """Raw records of ``src`` (the tokenizer preprocesses them); unreadable ones are logged and skipped."""
    from ecgbyte.errors import RecordError
    from ecgbyte.io import discover, read_record

    for ref in discover(src)[:max_ecgs]:
        try:
            yield read_record(ref.path, leads=leads)
        except RecordError as exc:
            log.warning("skipping %s", exc)


def run(args: argparse.Namespace) -> int:
    rep = report_tokenizer(
        args.tokenizer_dir, args.out, data=args.data, max_ecgs=args.max_ecgs, encoder=args.encoder
    )
    v = rep["vocab"]
    print(json.dumps({"vocab_size": v["vocab_size"], "run_tokens": v["run_tokens"], "files": rep["files"]}))
    return 0
