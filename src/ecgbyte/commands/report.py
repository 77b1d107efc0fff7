"""One self-contained HTML page for a trained run: metrics with intervals, ablations, pictures.

Examples::

    ecgbyte report runs/tiny                      # -> runs/tiny/report.html
    ecgbyte report runs/tiny --limit 200 --refresh

Reuses RUN_DIR/evaluation_<split>.json and RUN_DIR/explain/*.png when present, computes them
otherwise. One run gets 95% bootstrap intervals over its test patients (all questions of a
drawn patient together); run `ecgbyte evaluate` over several seeds first for t-intervals over
runs, or with `--decode sample --seeds ...` for the original's t-interval over decoding seeds.
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args

NAME = "report"
HELP = "self-contained HTML report of a run (metrics, ablations, interpretability pictures)"
ORDER = 65


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="training run directory")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument(
        "--record", default=None, help="record file for the pictures (default: first ECG of the split)"
    )
    p.add_argument("--out", default=None, help="HTML path (default: RUN_DIR/report.html)")
    p.add_argument("--refresh", action="store_true", help="recompute the evaluation and the pictures")
    p.add_argument("--limit", type=cli_args.limit, default=None, help="evaluate only the first N items")
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore")
    p.add_argument(
        "--n-resamples",
        type=cli_args.int_range(0, 1_000_000),
        default=1000,
        help="bootstrap resamples of the test patients for the intervals (0: none; default 1000)",
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.report import build_report

    kw = {"limit": args.limit, "n_resamples": args.n_resamples}
    if args.no_bertscore:
        kw["bertscore_model"] = None
    path = build_report(
        args.run_dir, split=args.split, record=args.record, out=args.out, refresh=args.refresh, **kw
    )
    print(f"wrote {path}")
    return 0
