"""What does the two-stage baseline's frozen encoder know? A linear probe on its soft tokens (issue 14).

Stage 1 of ``claim_bench.py`` is pretrained (ECG-report contrastive) in several ways; for each, a
logistic regression on the flattened soft tokens (``Setup.soft_tokens`` x feature width) is fitted
on the default plan's 125 training ECGs and scored on ``--eval-ecgs`` fresh synthetic ECGs (other
patients) for the two labels the rhythm questions need: AF or sinus (``rhythm``), and AF starting
mid-strip (``rhythm_change``), plus paroxysmal vs AF throughout *within* the AF ECGs (balanced
accuracy: the onset itself). A feature set that cannot beat the majority class here cannot make
the LLM answer above it.

Usage::

    .venv/bin/python benchmarks/claim_encoder_probe.py            # 5 configurations, a few minutes

Writes ``benchmarks/results/claim_encoder_probe.json`` (and ``--evidence DIR``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from claim_runs import Setup, load_data, stage1_for
from context_probe import fit_predict

HERE = Path(__file__).resolve().parent
# name -> (Setup overrides): stage 1 on the LLM's 125 training ECGs (the old default) or on a corpus
CONFIGS: dict[str, dict[str, Any]] = {
    "LLM's training ECGs, 30 epochs": dict(pretrain_ecgs=0, enc_epochs=30.0),
    "LLM's training ECGs, 100 epochs": dict(pretrain_ecgs=0, enc_epochs=100.0),
    "corpus of 500, 30 epochs": dict(pretrain_ecgs=500, enc_epochs=30.0),
    "corpus of 1,000, 15 epochs (default plan)": dict(pretrain_ecgs=1000, enc_epochs=15.0),
    "corpus of 1,000, 15 epochs, windowed embedding": dict(
        pretrain_ecgs=1000, enc_epochs=15.0, enc_time_tokens=0
    ),
}


def _labels(ecgs: list) -> tuple[np.ndarray, np.ndarray]:
    """The answers of the two rhythm questions, as the QA data gives them."""
    from ecgbyte.data.synthetic_qa import ANSWERERS

    return tuple(np.array([ANSWERERS[t](e) for e in ecgs]) for t in ("rhythm", "rhythm_change"))


def _majority(y: np.ndarray) -> float:
    return 100 * max(np.mean(y == v) for v in set(y))


def probe(setup: Setup, n_ecgs: int, eval_ecgs: list, seed: int) -> dict[str, Any]:
    """Pretrain stage 1 as ``setup`` says, then the three probes; accuracies in %."""
    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.elm.encoder import encode_features

    data = load_data(n_ecgs, setup)
    train = unique_ecgs(data["train_qa"])
    tok, cost, n_stage1 = stage1_for("two_stage", data, train, setup, seed)

    def feats(ecgs: list) -> np.ndarray:
        return encode_features(tok.encoder, tok.config, ecgs, k=setup.soft_tokens).reshape(len(ecgs), -1)

    x_tr, x_ev = feats(train), feats(eval_ecgs)
    (r_tr, c_tr), (r_ev, c_ev) = _labels(train), _labels(eval_ecgs)
    out = {"stage1_ecgs": n_stage1, "stage1_wall_s": cost["wall_s"], "stage1_steps": cost["steps"]}
    for name, y_tr, y_ev in (("rhythm", r_tr, r_ev), ("rhythm_change", c_tr, c_ev)):
        pred = np.array(fit_predict(x_tr, list(y_tr), x_ev))
        out[name] = 100 * float(np.mean(pred == y_ev))
        out[f"{name}_majority"] = _majority(y_ev)
    af_tr, af_ev = r_tr == "atrial fibrillation", r_ev == "atrial fibrillation"
    pred = np.array(fit_predict(x_tr[af_tr], list(c_tr[af_tr]), x_ev[af_ev]))
    truth = c_ev[af_ev]
    out["onset_within_af_balanced"] = 100 * float(
        np.mean([np.mean(pred[truth == c] == c) for c in ("yes", "no")])
    )
    out["n_af_eval"] = int(af_ev.sum())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-ecgs", type=int, default=160, help="the claim data (default: the default plan's)")
    ap.add_argument("--eval-ecgs", type=int, default=400, help="fresh ECGs the probes are scored on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--evidence", default=None)
    args = ap.parse_args(argv)
    import torch

    from ecgbyte.data.synthetic_qa import preprocess_config_for, synth_config_for
    from ecgbyte.fileio import write_json
    from ecgbyte.signal import preprocess
    from ecgbyte.signal.synth import synthesize

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base = Setup(leads=("II", "V1"), fs=50.0, seconds=10.0)
    raw = synthesize(
        args.eval_ecgs, seed=99, fs=500.0, duration_s=10.0, config=synth_config_for(morphology=True)
    )
    pre = preprocess_config_for(base.fs)
    eval_ecgs = [preprocess(e.select_leads(base.leads), pre) for e in raw]
    rows = {}
    for name, over in CONFIGS.items():
        rows[name] = probe(dataclasses.replace(base, **over), args.n_ecgs, eval_ecgs, args.seed)
        print(f"[claim_encoder_probe] {name}: {rows[name]}", flush=True)
    first = next(iter(rows.values()))
    lines = [
        "| stage 1 | ECGs | steps | wall s | AF vs sinus % | rhythm change % | onset within AF (balanced) % |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {n} | {r['stage1_ecgs']:,} | {r['stage1_steps']} | {r['stage1_wall_s']:.0f} | {r['rhythm']:.1f} | "
            f"{r['rhythm_change']:.1f} | {r['onset_within_af_balanced']:.1f} |"
            for n, r in rows.items()
        ),
        f"| majority class | | | | {first['rhythm_majority']:.1f} | {first['rhythm_change_majority']:.1f} | 50.0 |",
    ]
    print("\n".join(lines))
    out = {
        "command": " ".join(
            ["python benchmarks/claim_encoder_probe.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "n_ecgs": args.n_ecgs,
        "eval_ecgs": args.eval_ecgs,
        "seed": args.seed,
        "configs": {n: {k: v for k, v in c.items()} for n, c in CONFIGS.items()},
        "probes": rows,
        "table": "\n".join(lines),
        "total_s": time.perf_counter() - t0,
    }
    for d in [args.out, args.evidence]:
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
            write_json(Path(d) / "claim_encoder_probe.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
