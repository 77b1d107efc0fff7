"""Encode one ECG record with a trained tokenizer and print (or save) the tokens as JSON.

The JSON holds the token ids (leads concatenated in the tokenizer's lead order), the token
strings, lead_offsets, one span per token (lead, start/end sample at the tokenizer's rate,
start_s/end_s in seconds) and the compression (symbols per token).

Example:
  ecgbyte encode tok/ ../shared/data/ptb-xl/records500/00000/00002_hr --encoder greedy --out enc.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecgbyte import cli_args

NAME = "encode"
HELP = "encode one ECG record into tokens with spans (JSON)"
ORDER = 32


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tokenizer_dir", metavar="TOKENIZER_DIR", help="directory written by train-tokenizer")
    p.add_argument("record", metavar="RECORD", help="record file (WFDB .hea/stem, .npy with --fs, .npz)")
    p.add_argument("--encoder", choices=("bpe", "greedy"), default=None, help="default: the tokenizer's")
    p.add_argument("--fs", type=cli_args.rate_hz, default=None, help="sampling rate in Hz (needed for .npy)")
    p.add_argument("--out", type=Path, default=None, help="write the JSON here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.tokenizer_tasks import encode_record

    result = encode_record(args.tokenizer_dir, args.record, encoder=args.encoder, fs=args.fs)
    text = json.dumps(result)
    if args.out is None:
        print(text)
    else:
        from ecgbyte.fileio import atomic_write_text

        atomic_write_text(args.out, text + "\n")
        print(f"{result['n_tokens']} tokens ({result['compression']:.2f} symbols/token) -> {args.out}")
    return 0
