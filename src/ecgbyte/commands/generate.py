"""Answer every question of a dataset split with a trained run; write predictions JSONL.

Example::

    ecgbyte generate runs/tiny --split test --out runs/tiny/preds.jsonl

The split is rebuilt from the dataset spec stored in the run's config (same data, same patients).
Each line: item_id, question_type, question, reference, prediction, n_cut (ECG tokens cut).
"""

from __future__ import annotations

import argparse
import json

NAME = "generate"
HELP = "batched greedy/beam answers of a trained run over a dataset split (JSONL)"
ORDER = 61


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="training run directory")
    p.add_argument("--split", default="test", help="train, valid or test (default: test)")
    p.add_argument("--out", required=True, help="predictions JSONL path")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--num-beams", type=int, default=None, help="1 = greedy (default: the run's config)")
    p.add_argument("--limit", type=int, default=None, help="only the first N items")


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
    )
    print(json.dumps(res, indent=2))
    return 0
