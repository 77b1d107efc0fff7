"""Train an ECG-Byte tokenizer (quantizer + BPE merges) and save it as a directory.

SRC is the output of `ecgbyte preprocess` (shards; their preprocessing config is adopted) or a
directory / dataset of records (PTB-XL, MIMIC-IV-ECG, WFDB/.npy files), which are preprocessed
and cut into segments here. NUM_ECGS segments are sampled with SEED, at random or stratified by
morphology as in the paper (PCA + k-means, k by silhouette, an even share per cluster).
OUT_DIR receives tokenizer.json (Hugging Face format) and ecgbyte_config.json.

--preset NAME trains a named representation (ecgbyte.presets): `paper` (12 leads, 250 Hz, 3,500
merges) or `compact` (leads I, II, V1-V6 at 100 Hz, III/aVR/aVL/aVF rebuilt at decode, 22 symbols
with hysteresis, 5,000 merges: a whole 10 s ECG in about 1,000 tokens); the preset and all its
parameters are stored in ecgbyte_config.json. --merges/--min-frequency override the preset's.

Examples:
  ecgbyte train-tokenizer ../shared/data/ptb-xl tok/ --merges 3500 --num-ecgs 50 --sampling stratified
  ecgbyte train-tokenizer ../shared/data/ptb-xl tok_compact/ --preset compact
"""

from __future__ import annotations

import argparse

NAME = "train-tokenizer"
HELP = "train an ECG-Byte BPE tokenizer from shards or records"
ORDER = 30
PRESET_NAMES = ("paper", "compact")  # ecgbyte.presets.PRESETS (not imported here: --help stays fast)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "src", metavar="SRC", help="`ecgbyte preprocess` output, or a directory/dataset of records"
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory for tokenizer.json + ecgbyte_config.json")
    p.add_argument(
        "--preset",
        default=None,
        choices=PRESET_NAMES,
        help="a named representation (see above); default: none",
    )
    p.add_argument(
        "--merges", type=int, default=None, help="number of BPE merges (default: the preset's; else 3500)"
    )
    p.add_argument("--num-ecgs", type=int, default=None, help="ECG segments to train on (default: all)")
    p.add_argument("--sampling", choices=("random", "stratified"), default="random", help="how to pick them")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the quantizer fit")
    p.add_argument(
        "--min-frequency", type=int, default=None, help="a pair must occur this often to merge (default 2)"
    )
    p.add_argument("--max-token-length", type=int, default=None, help="longest token in symbols")
    p.add_argument(
        "--segment-seconds", type=float, default=None, help="segment length in s (default: shards' or 10 s)"
    )
    p.add_argument(
        "--layout", default="auto", choices=("auto", "dir", "ptbxl", "mimic"), help="records layout"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="BPE training threads (default: all cores; same merges)"
    )
    p.add_argument(
        "--quantizer",
        default="ecgbyte.quantizer",
        help="quantizer kind (a registered one; default: ECG-Byte's uniform 26 bins between p1 and p99)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.tokenizer_tasks import train_tokenizer

    tok, paths = train_tokenizer(
        args.src,
        args.out_dir,
        n_merges=args.merges if args.merges is not None or args.preset else 3500,
        num_ecgs=args.num_ecgs,
        sampling=args.sampling,
        seed=args.seed,
        min_frequency=args.min_frequency if args.min_frequency is not None or args.preset else 2,
        max_token_length=args.max_token_length,
        segment_seconds=args.segment_seconds,
        layout=args.layout,
        progress=not args.no_progress,
        threads=args.threads,
        quantizer=args.quantizer,
        preset=args.preset,
    )
    named = f" ({tok.preset.name} representation)" if tok.preset is not None else ""
    print(f"trained {tok!r}{named} on {tok.info['n_ecgs']} ECG segments; wrote {', '.join(paths)}")
    return 0
