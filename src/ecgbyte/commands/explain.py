"""Interpretability pictures of one record under a trained run.

Examples::

    ecgbyte explain data/ptb-xl/records500/00000/00002_hr --run runs/tiny --out explain/
    ecgbyte explain rec.npz --run runs/tiny --out explain/ --question "Which rhythm does this ECG show?"

Writes token_spans.png (each ECG token as the span of signal it covers), reconstruction.png
(signal from tokens vs input), token_usage.png / token_shapes.png (usage distribution and the
most used tokens as waveforms) and attention.png (attention of the generated answer to the ECG
tokens, painted over time).
"""

from __future__ import annotations

import argparse

from ecgbyte import cli_args

NAME = "explain"
HELP = "PNG pictures: tokens on the signal, answer attention over time, token gallery, reconstruction"
ORDER = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("record", metavar="RECORD", help="record file (WFDB .hea/stem, .npy, .npz)")
    p.add_argument("--run", required=True, help="training run directory")
    p.add_argument("--out", required=True, help="output folder for the PNGs")
    p.add_argument("--question", default=None, help="question whose answer attention is drawn")
    p.add_argument(
        "--seconds",
        type=cli_args.float_range(0, 3600, lo_open=True, unit="s"),
        default=4.0,
        help="time window of the span plots (default 4 s)",
    )


def run(args: argparse.Namespace) -> int:
    from ecgbyte.report.explain import DEFAULT_QUESTION, explain

    paths = explain(
        args.record, args.run, args.out, question=args.question or DEFAULT_QUESTION, seconds=args.seconds
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
