"""Train an ECG-Byte tokenizer (quantizer + BPE merges) and save it as a directory.

SRC is the output of `ecgbyte preprocess` (shards; their preprocessing config is adopted) or a
directory / dataset of records (PTB-XL, MIMIC-IV-ECG, WFDB/.npy files), which are preprocessed
and cut into segments here. NUM_ECGS segments are sampled with SEED, at random or stratified by
morphology as in the paper (PCA + k-means, k by silhouette, an even share per cluster).
OUT_DIR receives tokenizer.json (Hugging Face format) and ecgbyte_config.json.

Example:
  ecgbyte train-tokenizer ../shared/data/ptb-xl tok/ --merges 3500 --num-ecgs 50 --sampling stratified
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args, limits

NAME = "train-tokenizer"
HELP = "train an ECG-Byte BPE tokenizer from shards or records"
ORDER = 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "src", metavar="SRC", help="`ecgbyte preprocess` output, or a directory/dataset of records"
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory for tokenizer.json + ecgbyte_config.json")
    p.add_argument(
        "--merges",
        type=cli_args.int_range(0, limits.MAX_MERGES),
        default=3500,
        help="number of BPE merges (default 3500, the paper)",
    )
    p.add_argument(
        "--num-ecgs", type=cli_args.count, default=None, help="ECG segments to train on (default: all)"
    )
    p.add_argument("--sampling", choices=("random", "stratified"), default="random", help="how to pick them")
    p.add_argument(
        "--seed", type=cli_args.seed, default=0, help="seed of the sample and of the quantizer fit"
    )
    p.add_argument(
        "--min-frequency",
        type=cli_args.positive_int(),
        default=2,
        help="a pair must occur this often to merge",
    )
    p.add_argument(
        "--max-token-length",
        type=cli_args.int_range(2, limits.MAX_TOKEN_SYMBOLS),
        default=None,
        help="longest token in symbols",
    )
    p.add_argument(
        "--segment-seconds",
        type=cli_args.float_range(0, 3600, lo_open=True, unit="s"),
        default=None,
        help="segment length in s (default: shards' or 10 s)",
    )
    p.add_argument(
        "--layout", default="auto", choices=("auto", "dir", "ptbxl", "mimic"), help="records layout"
    )
    p.add_argument(
        "--threads",
        type=cli_args.workers,
        default=None,
        help="BPE training threads (default: all cores; same merges)",
    )
    p.add_argument(
        "--quantizer",
        default="ecgbyte.quantizer",
        help="quantizer kind (a registered one; default: ECG-Byte's uniform 26 bins between p1 and p99)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.locks import writer_lock
    from ecgbyte.tokenizer_tasks import train_tokenizer

    with writer_lock(args.out_dir, command=NAME):
        tok, paths = train_tokenizer(
            args.src,
            args.out_dir,
            n_merges=args.merges,
            num_ecgs=args.num_ecgs,
            sampling=args.sampling,
            seed=args.seed,
            min_frequency=args.min_frequency,
            max_token_length=args.max_token_length,
            segment_seconds=args.segment_seconds,
            layout=args.layout,
            progress=not args.no_progress,
            threads=args.threads,
            quantizer=args.quantizer,
        )
    print(f"trained {tok!r} on {tok.info['n_ecgs']} ECG segments; wrote {', '.join(paths)}")
    return 0
