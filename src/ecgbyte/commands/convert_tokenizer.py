"""Convert an original ECG-Byte / ECG-Bench tokenizer pickle into ecgbyte's files.

PICKLE is a `(vocab, merges)` pickle as written by the paper's code (e.g. ECG-Bench's
ecg_byte_tokenizer_5000_500000.pkl). It is read WITHOUT running pickle code: only plain
containers, strings, bytes and ints are admitted, anything else is refused. The pickle holds no
percentiles, so pass the 1st/99th percentiles (mV) the original was trained with. OUT_DIR gets
tokenizer.json + ecgbyte_config.json, with the default encoder "greedy" (the original's
longest match) and the map from the original ids (symbols 97..122, merges 256+) to ours
(symbols 0..25, merges 26+) under merges.converted_from.id_map.

Example:
  ecgbyte convert-tokenizer ecg_byte_tokenizer_5000_500000.pkl tok/ --p1 -0.35 --p99 0.62
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args, limits

NAME = "convert-tokenizer"
HELP = "convert an original ECG-Byte (vocab, merges) pickle, safely, into ecgbyte's format"
ORDER = 36


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pickle", metavar="PICKLE", help="the original tokenizer .pkl")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output directory")
    p.add_argument(
        "--p1",
        type=cli_args.float_range(-limits.PHYSIOLOGICAL_MV, limits.PHYSIOLOGICAL_MV, unit="mV"),
        required=True,
        help="1st percentile of the training data (mV)",
    )
    p.add_argument(
        "--p99",
        type=cli_args.float_range(-limits.PHYSIOLOGICAL_MV, limits.PHYSIOLOGICAL_MV, unit="mV"),
        required=True,
        help="99th percentile of the training data (mV)",
    )
    p.add_argument("--encoder", choices=("greedy", "bpe"), default="greedy", help="default encoder (greedy)")
    p.add_argument("--no-preprocess", action="store_true", help="attach no preprocessing config")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.convert import convert_original_tokenizer

    tok, paths = convert_original_tokenizer(
        args.pickle,
        args.out_dir,
        p1=args.p1,
        p99=args.p99,
        preprocess=None if args.no_preprocess else "default",
        encoder=args.encoder,
    )
    print(f"converted {tok!r}; wrote {', '.join(paths)}")
    return 0
