"""The paper's claim, measured (issue 14): end-to-end ECG tokens vs a contrastive two-stage baseline.

ECG-Byte (Han et al., MLHC 2025) says end-to-end training on ECG tokens matches two-stage systems
(a pretrained ECG encoder projected into the LLM) in quality while training about 3x faster and
needing 48% of the data. Both systems here read the **same input** (the same leads, seconds and
rate: ``claim_runs.Setup``) and share the task, the LLM, the data order and the training loop
(``ecgbyte.elm.train.train``); only the ECG input of the LLM differs:

- **end to end**: ECG tokens (``ECGByteTokenizer``; the ``compact`` preset where it exists, else
  BPE with ``n_merges``); stage 1 is the tokenizer's training;
- **two-stage**: a 1-D ResNet pretrained with the ECG-report contrastive objective (CLIP loss
  against a jointly trained bag-of-words text encoder, MERL-style; texts are the synthetic
  reports) on a separate corpus of ECG-report pairs (other patients; ``pretrain_ecgs``), frozen; its feature map is adaptive-pooled over time into ``soft_tokens`` vectors
  (so the soft tokens keep time), projected into the LLM by a linear layer (the paper) or an MLP.

Tasks: the synthetic QA questions (every question type) and a free-text report task trained
alongside (its BLEU-4 / ROUGE-L / METEOR are reported; QA accuracy is the target). For every
system x data fraction (10, 25, 48, 100%) x seed (>= 3), the LLM is stopped ``points`` times
(>= 10) and evaluated on the full QA test set; costs are wall seconds, optimizer steps and
processed tokens, stage 1 included; data as the distinct ECGs each system learnt from (the
two-stage corpus included). ``ecgbyte.eval.claim.analyse`` turns the rows into the
target, time to target, data to target (bootstrap intervals over seeds) and the sentence.

Usage::

    .venv/bin/python benchmarks/claim_bench.py            # default plan (24 runs, about 20 min on 2 cores)
    .venv/bin/python benchmarks/claim_bench.py --quick    # minutes
    .venv/bin/python benchmarks/claim_bench.py --scale --llm /path/to/SmolLM2-135M  # a GPU

Writes ``benchmarks/results/claim_bench.{json,md}`` and ``claim_bench_{curves,fractions}.png``;
``--evidence DIR`` copies them (and a README with the command) to a folder to commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from claim_runs import Setup, load_data, majority_share, parameter_counts, run

HERE = Path(__file__).resolve().parent
FRACTIONS = (0.10, 0.25, 0.48, 1.0)
COMPACT_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # the compact preset (12 leads rebuilt)
PLANS: dict[str, dict[str, Any]] = {
    # 6 LLM epochs: at 2 the baseline's LLM had not coupled ST and rhythm change to their questions
    # (claim_baseline: ST 50.8% at 2 epochs, 81-86% at 4-6; evidence/claim_bench/README.md).
    # Stage 1 of the two-stage system reads a separate corpus of 1,000 ECG-report pairs (15 epochs):
    # pretrained on the LLM's 125 training ECGs alone, its encoder read AF at 66% and the rhythm
    # change below the majority class (evidence/claim_bench/README.md)
    "default": dict(n_ecgs=160, epochs=12.0, seeds=(0, 1, 2), points=10, min_steps=40, enc_epochs=15.0,
                    pretrain_ecgs=1000),
    "quick": dict(n_ecgs=60, epochs=2.0, seeds=(0, 1, 2), points=10, min_steps=20, enc_epochs=15.0,
                  pretrain_ecgs=1000),
    "scale": dict(n_ecgs=2000, epochs=2.0, seeds=(0, 1, 2), points=10, min_steps=100, enc_epochs=15.0,
                  pretrain_ecgs=8000),
}  # fmt: skip
# The shared input of both systems, per plan. On the CPU plans 2 leads at 50 Hz (about 190 ECG
# tokens): the whole ECG in the compact representation (8 leads at 100 Hz, about 1,000 tokens)
# makes each end-to-end step about 5x longer, past the 60-minute budget of the default plan.
SETUPS: dict[str, dict[str, Any]] = {
    "default": dict(leads=("II", "V1"), fs=50.0, seconds=10.0, max_length=768, representation="bpe"),
    "quick": dict(leads=("II", "V1"), fs=50.0, seconds=10.0, max_length=768, representation="bpe"),
    "scale": dict(leads=COMPACT_LEADS, fs=100.0, seconds=10.0, max_length=1600, representation="compact"),
}


_DATA: dict[tuple, dict[str, Any]] = {}  # per process: a spawned worker makes the data once


def _job(
    system: str, frac: float, seed: int, plan: dict[str, Any], setup: Setup, threads: int
) -> dict[str, Any]:
    """One run (system x fraction x seed) in its own temporary folder; the data is made once per process."""
    import torch

    torch.set_num_threads(threads)
    key = (plan["n_ecgs"], setup)
    if key not in _DATA:
        _DATA[key] = load_data(plan["n_ecgs"], setup)
    with tempfile.TemporaryDirectory(prefix="claim_bench_") as work:
        return run(
            system, _DATA[key], fraction=frac, seed=seed, setup=setup, epochs=plan["epochs"],
            points=plan["points"], min_steps=plan["min_steps"], work=Path(work),
        )  # fmt: skip


def _runs(
    todo: list[tuple[float, int, str]], plan: dict[str, Any], setup: Setup, *, workers: int, threads: int
):
    """Yield the finished runs of ``todo``: here one after the other (``workers`` 1), or in ``workers``
    spawned processes of ``threads`` threads each, as they finish (each process makes the data once)."""
    if workers <= 1:
        for frac, seed, system in todo:
            yield _job(system, frac, seed, plan, setup, threads)
        return
    from concurrent.futures import as_completed

    from ecgbyte.procs import worker_pool

    with worker_pool(workers, start_method="spawn") as pool:  # workers die with this process
        futures = [pool.submit(_job, system, frac, seed, plan, setup, threads) for frac, seed, system in todo]
        for f in as_completed(futures):
            yield f.result()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="minutes: 60 ECGs, 2 LLM epochs")
    ap.add_argument(
        "--scale",
        action="store_true",
        help="the compact 8-lead input at 100 Hz, 2000 ECGs, a pretrained LLM (--llm): a GPU",
    )
    ap.add_argument(
        "--llm", default=None, help="local folder of a pretrained causal LM (LoRA); default: tiny"
    )
    ap.add_argument("--projector", default="linear", choices=("linear", "mlp"))
    ap.add_argument("--soft-tokens", type=int, default=8)
    ap.add_argument("--n-ecgs", type=int, default=None, help="override the plan's number of ECGs")
    ap.add_argument("--epochs", type=float, default=None, help="override the plan's LLM epochs")
    ap.add_argument(
        "--pretrain-ecgs",
        type=int,
        default=None,
        help="override the size of the two-stage system's stage-1 corpus (0: the LLM's training ECGs)",
    )
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (>= 3 for the claim)")
    ap.add_argument(
        "--fractions", default=None, help="comma-separated data fractions (default 0.1,0.25,0.48,1)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs at a time, each in its own process with one thread (default: 2 on the CPU plans, "
        "capped at the CPUs; 1 with --scale, which gets every thread)",
    )
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--finish", action="store_true", help="write the outputs from the runs saved so far")
    ap.add_argument("--evidence", default=None, help="also copy the JSON/md/plots here (with a README)")
    args = ap.parse_args(argv)
    import torch

    size = "scale" if args.scale else "quick" if args.quick else "default"
    if args.scale and not torch.cuda.is_available():
        print(
            "[claim_bench] --scale is meant for a GPU; none is available: running it on the CPU", flush=True
        )
    threads = torch.get_num_threads() if size == "scale" else 1
    workers = args.workers or (1 if size == "scale" else min(2, os.cpu_count() or 1))
    plan = dict(PLANS[size])
    if args.n_ecgs is not None:
        plan["n_ecgs"] = args.n_ecgs
    if args.epochs is not None:
        plan["epochs"] = args.epochs
    if args.pretrain_ecgs is not None:
        plan["pretrain_ecgs"] = args.pretrain_ecgs
    if args.seeds is not None:
        plan["seeds"] = tuple(range(args.seeds))
    fractions = tuple(float(f) for f in args.fractions.split(",")) if args.fractions else FRACTIONS
    setup = Setup(
        **SETUPS[size], soft_tokens=args.soft_tokens,
        projector=args.projector, enc_epochs=plan["enc_epochs"], pretrain_ecgs=plan["pretrain_ecgs"],
        model=args.llm or "tiny",
    )  # fmt: skip
    t_all = time.perf_counter()
    data = _DATA[plan["n_ecgs"], setup] = load_data(plan["n_ecgs"], setup)
    n_test = len(data["test_qa"])
    print(f"[claim_bench] {size}: {len(data['train_qa'])} + {len(data['train_report'])} train items, {n_test} "
          f"QA + {len(data['test_report'])} report test items; {setup}", flush=True)  # fmt: skip
    from tqdm import tqdm

    jobs = [(f, s, sys_) for f in sorted(fractions, reverse=True) for s in plan["seeds"]
            for sys_ in ("two_stage", "end_to_end")]  # fmt: skip
    # every finished run is saved at once; a rerun with the same plan and setup resumes after it
    # (the machine is shared: a long run may be stopped), and --finish writes the outputs from the
    # runs done so far (the plan then says which are missing)
    from ecgbyte.fileio import write_json

    sig = {"plan": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.items()},
           "setup": dataclasses.asdict(setup)}  # fmt: skip
    sig = json.loads(json.dumps(sig))
    part = Path(args.out) / f"claim_bench.{size}.runs.json"
    saved = json.loads(part.read_text()) if part.exists() else {}
    runs = saved.get("runs", []) if saved.get("signature") == sig else []
    done = {(r["fraction"], r["seed"], r["system"]) for r in runs}
    if runs:
        print(f"[claim_bench] resuming: {len(runs)} runs already done ({part})", flush=True)
    todo = [j for j in jobs if j not in done] if not args.finish else []
    for r in tqdm(_runs(todo, plan, setup, workers=workers, threads=threads), total=len(todo), desc="runs"):
        runs.append(r)
        write_json(part, {"signature": sig, "runs": runs})
        tqdm.write(
            f"  {r['system']} {100 * r['fraction']:.0f}% seed {r['seed']}: acc {r['final']['accuracy']:.1f} "
            f"{r['final']['per_type']} stage1 {r['stage1']['wall_s']:.0f}s LLM {r['curve'][-1]['wall_s']:.0f}s"
        )
    results = {
        "plan_name": size,
        "plan": plan,
        "workers": workers,  # runs at a time (one thread each on the CPU plans): their wall times share the machine
        "setup": dataclasses.asdict(setup),
        "report_generator": "ecgbyte.data.synthetic_report.synthetic_report",
        "question_types": data["question_types"],
        "fractions": list(fractions),
        "n_test_items": n_test,
        "majority_class": majority_share(data["test_qa"]),  # % per type: answering without the ECG
        "n_test_reports": len(data["test_report"]),
        "n_train_qa": len(data["train_qa"]),
        "parameters": parameter_counts(data, setup, plan["epochs"]),
        "runs": runs,
        "missing_runs": [
            list(j) for j in jobs if j not in {(r["fraction"], r["seed"], r["system"]) for r in runs}
        ],
        "command": " ".join(
            ["python benchmarks/claim_bench.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{'GPU ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU only (no GPU)'}",
        "total_s": time.perf_counter() - t_all,  # this process (a resumed or --finish call: only its part)
        "runs_wall_s": sum(r["stage1"]["wall_s"] + r["curve"][-1]["wall_s"] for r in runs),
    }
    from claim_report import write_outputs

    write_outputs(results, Path(args.out), evidence=Path(args.evidence) if args.evidence else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
