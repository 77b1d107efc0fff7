"""Measure how faithfully a tokenizer's tokens keep the ECG: tokens per ECG, RMSE, clinical intervals.

Each record is preprocessed with the tokenizer's pipeline, encoded and decoded (for a named
representation: the 12 standard leads, derived leads rebuilt), and compared with its preprocessed
signal: tokens per ECG (and LLM tokens with the sequence's markers), RMSE per lead in mV and in % of
the p1-p99 range, and heart rate, QRS, PR, QT, R and ST amplitudes measured by NeuroKit2 on both
(`pip install 'ecgbyte[fidelity]'`). Writes OUT/fidelity.json, fidelity.md, fidelity.png and
overlay.png and prints the Markdown table. Records the delineator fails on are reported, not fatal.

Example:
  ecgbyte fidelity tok_compact/ ../shared/data/ptb-xl --out fidelity/compact --preset compact
"""

from __future__ import annotations

import argparse

NAME = "fidelity"
HELP = "tokens per ECG, reconstruction RMSE and clinical measurements of a tokenizer on records"
ORDER = 34


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tokenizer_dir", metavar="TOK", help="tokenizer directory (train-tokenizer output)")
    p.add_argument("records", metavar="RECORDS", nargs="+", help="record files or dataset folders")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--preset", default=None, help="refuse a tokenizer of another representation (e.g. compact)"
    )
    p.add_argument("--max-records", type=int, default=None, help="measure at most this many records")
    p.add_argument("--no-delineate", action="store_true", help="skip the clinical measurements")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.report.fidelity import fidelity_report, to_markdown

    result = fidelity_report(
        args.tokenizer_dir,
        args.records,
        args.out,
        expect_preset=args.preset,
        max_records=args.max_records,
        delineate=not args.no_delineate,
        progress=not args.no_progress,
    )
    print(to_markdown(result))
    print(f"wrote {args.out}/fidelity.json, fidelity.md, fidelity.png, overlay.png")
    return 0
