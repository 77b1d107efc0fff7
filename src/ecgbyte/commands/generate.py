"""Answer every question of a dataset split with a trained run; write predictions JSONL.

Example::

    ecgbyte generate runs/tiny --split test --out runs/tiny/preds.jsonl
    ecgbyte generate runs/tiny --out preds.jsonl --decode sample --seeds 0,42,123,456,789

The split is rebuilt from the dataset spec stored in the run's config (same data, same patients).
Each line: item_id, question_type, question, reference, prediction, n_cut (ECG tokens cut), and
with --decode sample the seed (one line per item and seed).
"""

from __future__ import annotations

import argparse
import json

from ecgbyte import cli_args

NAME = "generate"
HELP = "batched greedy/beam/sampled answers of a trained run over a dataset split (JSONL)"
ORDER = 61


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory")
    p.add_argument("--split", default="test", help="train, valid or test (default: test)")
    p.add_argument("--out", required=True, help="predictions JSONL path")
    p.add_argument("--batch-size", type=cli_args.batch_size, default=32)
    p.add_argument("--max-new-tokens", type=cli_args.max_new_tokens, default=None)
    p.add_argument(
        "--num-beams", type=cli_args.num_beams, default=None, help="1 = greedy (default: the run's config)"
    )
    p.add_argument("--limit", type=cli_args.limit, default=None, help="only the first N items")
    p.add_argument(
        "--decode",
        default="greedy",
        help="greedy (default: --num-beams / the run's config) or sample (the original's sampling: "
        "temperature 0.6, top-p 0.9, top-k 50)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="--decode sample: comma-separated decoding seeds (default 0,42,123,456,789, the original's)",
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.eval.evaluate import generate_split

    res = generate_split(
        args.run_dir,
        args.split,
        args.out,
        limit=args.limit,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        decode=args.decode,
        seeds=args.seeds,
    )
    print(json.dumps(res, indent=2))
    return 0
