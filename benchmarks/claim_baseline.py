"""Does the two-stage baseline see every finding? Per-question-type accuracy against the majority class.

A baseline that answers a question type at chance cannot be beaten fairly (issue 14): this runs the
two-stage system of ``claim_bench.py`` alone (contrastive stage 1, soft tokens over time, the
same LLM and input), once per seed, and prints each type's test accuracy beside the majority-class
share of that type's test answers (what a model that ignores the ECG gets).

Usage::

    .venv/bin/python benchmarks/claim_baseline.py                  # 300 ECGs, seed 0 (a few minutes)
    .venv/bin/python benchmarks/claim_baseline.py --projector mlp --seeds 3
    .venv/bin/python benchmarks/claim_baseline.py --n-ecgs 160 --epochs 6 --pretrain-ecgs 1000 --enc-epochs 15

Writes ``benchmarks/results/claim_baseline.json`` (and ``--evidence DIR``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from claim_runs import Setup, load_data, majority_share, run

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-ecgs", type=int, default=300)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--projector", default="linear", choices=("linear", "mlp"))
    ap.add_argument("--soft-tokens", type=int, default=8)
    ap.add_argument(
        "--enc-time-tokens",
        type=int,
        default=1,
        help="time windows of the contrastive ECG embedding in stage 1 (1: mean over time, the default; "
        "0: --soft-tokens)",
    )
    ap.add_argument(
        "--pretrain-ecgs",
        type=int,
        default=0,
        help="stage 1 on a separate corpus of this many ECG-report pairs (0: the LLM's training ECGs)",
    )
    ap.add_argument("--enc-epochs", type=float, default=30.0, help="stage-1 epochs")
    ap.add_argument("--name", default="claim_baseline", help="output file name (without .json)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--evidence", default=None)
    args = ap.parse_args(argv)
    import torch

    from ecgbyte.fileio import write_json

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    setup = Setup(
        leads=("II", "V1"),
        max_length=768,
        projector=args.projector,
        soft_tokens=args.soft_tokens,
        enc_time_tokens=args.enc_time_tokens,
        pretrain_ecgs=args.pretrain_ecgs,
        enc_epochs=args.enc_epochs,
    )
    data = load_data(args.n_ecgs, setup)
    chance = majority_share(data["test_qa"])
    work = Path(tempfile.mkdtemp(prefix="claim_baseline_"))
    runs = [
        run(
            "two_stage",
            data,
            fraction=1.0,
            seed=s,
            setup=setup,
            epochs=args.epochs,
            points=1,
            min_steps=0,
            work=work,
        )
        for s in range(args.seeds)
    ]
    per_type = {t: float(np.mean([r["final"]["per_type"][t] for r in runs])) for t in chance}
    lines = ["| question type | two-stage accuracy % | majority class % |", "|---|---|---|"]
    lines += [f"| {t} | {per_type[t]:.1f} | {chance[t]:.1f} |" for t in chance]
    print("\n".join(lines))
    out = {
        "command": " ".join(
            ["python benchmarks/claim_baseline.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "setup": {**setup.__dict__, "n_ecgs": args.n_ecgs, "epochs": args.epochs},
        "n_test_ecgs": len(data["test_report"]),
        "per_type": per_type,
        "majority_class": chance,
        "above_chance": {t: per_type[t] > chance[t] for t in chance},
        "runs": runs,
        "total_s": time.perf_counter() - t0,
    }
    for d in [args.out, args.evidence]:
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
            write_json(Path(d) / f"{args.name}.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
