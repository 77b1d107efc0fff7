"""Run the whole ECG-Byte pipeline on embedded synthetic ECGs (no download, CPU, minutes).

Stage 1 (seconds): generate seeded, labelled synthetic 12-lead ECGs, preprocess them with the
paper's recipe, fit the quantizer, write a summary and plots to OUT/signal/.

Stage 2 (about 5 minutes on 2 cores): preprocess -> train an ECG-Byte tokenizer -> synthetic
rate/rhythm QA -> patient-level split -> train a tiny Llama on ECG tokens + text, and the same
model without the ECG tokens -> greedy answers on held-out patients -> accuracy of both, to
OUT/ (results.json, accuracy.png, with_signal/ and no_signal/ run directories).

The demo passes when the model that sees the ECG reaches >= 85% on the rate and rhythm
questions and beats the no-signal model by >= 25 points. Then try
`ecgbyte report OUT/with_signal` for metrics, ablations and pictures.
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args

NAME = "demo"
HELP = "run the full pipeline on synthetic ECGs: signal summary, tokenizer, tiny ECG language model"
ORDER = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=cli_args.seed, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--signal-only", action="store_true", help="stop after stage 1 (signal summary, seconds)")
    p.add_argument(
        "--n-ecgs",
        type=cli_args.int_range(10, 1_000_000),
        default=1200,
        help="synthetic ECGs for the language model (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=cli_args.float_range(0, 1000, lo_open=True),
        default=5.0,
        help="training epochs (default: %(default)s)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the stage-1 PNG figures")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ecgbyte.demo import run_full_demo

    if args.n_ecgs < 10 or args.epochs <= 0:
        from ecgbyte.errors import ConfigError

        raise ConfigError("--n-ecgs must be >= 10 and --epochs > 0")
    out = Path(args.out)
    result = run_full_demo(
        out,
        seed=args.seed,
        n_ecgs=args.n_ecgs,
        epochs=args.epochs,
        signal_only=args.signal_only,
        make_plots=not args.no_plots,
        progress=not args.no_progress,
        on_stage=lambda name, r: _print_stage(name, r, out),
    )
    return 0 if args.signal_only or result["elm"]["passed"] else 1


def _print_stage(name: str, r: dict, out) -> None:
    if name == "signal":
        s = r["summary"]
        q, rec = s["quantizer"], s["reconstruction"]
        print(
            f"[1/2] signal: {s['n_ecgs']} synthetic ECGs ({s['n_patients']} patients), "
            f"{s['n_preprocessed']} preprocessed, {s['n_rejected']} rejected; quantizer p1 {q['p1']:.3f} / "
            f"p99 {q['p99']:.3f} mV, reconstruction RMSE {rec['rmse_mv']:.4f} mV -> {out / 'signal'}"
        )
        return
    acc = r["accuracy"]
    print(
        f"[2/2] ECG language model: {r['n_items']['train']} training / {r['n_items']['test']} held-out "
        f"questions ({r['n_patients']['test']} held-out patients), {r['wall_s']['total_s']:.0f} s"
    )
    print(f"{'question':<10}{'with ECG':>10}{'no signal':>11}{'margin':>9}")
    for k in acc["with_signal"]:
        w, n = acc["with_signal"][k] * 100, acc["no_signal"].get(k, 0.0) * 100
        print(f"{k:<10}{w:>9.1f}%{n:>10.1f}%{w - n:>+8.1f}")
    verdict = "PASS" if r["passed"] else "FAIL"
    print(f"{verdict}: bars are >= 85% on rate and rhythm and >= 25 points above the no-signal model")
    print(
        f"results: {out / 'results.json'}, plot: {out / 'accuracy.png'}; next: ecgbyte report {out / 'with_signal'}"
    )
