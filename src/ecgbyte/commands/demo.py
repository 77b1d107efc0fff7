"""Run the pipeline end to end on embedded synthetic ECGs (no data download).

Generates seeded, labelled synthetic 12-lead ECGs, preprocesses them with the paper's
recipe, fits the quantizer and writes a summary (JSON) and plots to --out.
"""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = "run generate -> preprocess -> quantize -> summary on synthetic ECGs"
ORDER = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--n-ecgs", type=int, default=64, help="number of synthetic ECGs (default: %(default)s)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per ECG (default: %(default)s)")
    p.add_argument(
        "--fs",
        type=float,
        default=500.0,
        help="sampling rate of the synthetic ECGs, Hz (default: %(default)s)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def run(args: argparse.Namespace) -> int:
    from ecgbyte.demo import run_demo

    result = run_demo(
        args.out,
        n_ecgs=args.n_ecgs,
        seed=args.seed,
        fs=args.fs,
        duration_s=args.duration,
        make_plots=not args.no_plots,
    )
    s = result["summary"]
    q = s["quantizer"]
    rec = s["reconstruction"]
    print(
        f"ECGs: {s['n_ecgs']} generated ({s['n_patients']} patients), {s['n_preprocessed']} preprocessed, "
        f"{s['n_rejected']} rejected"
    )
    for name, counts in s["label_balance"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(
        f"quantizer: p1 {q['p1']:.3f} mV, p99 {q['p99']:.3f} mV, {q['n_symbols']} symbols; "
        f"RMSE {rec['rmse_mv']:.4f} mV (half bin {rec['half_bin_mv']:.4f} mV)"
    )
    print(
        f"wrote {len(result['paths'])} files to {args.out}: "
        + ", ".join(p.name for p in result["paths"].values())
    )
    return 0
