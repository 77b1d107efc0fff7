"""How much ECG does the model see? The same tiny model at the same 1,024-token context on three inputs (issue 13).

Data: synthetic 12-lead 10 s ECGs (500 Hz, raw) with the morphology and late-finding labels
(:func:`ecgbyte.data.synthetic_qa.synth_config_for` ``morphology=True``: one premature ventricular
complex in half the ECGs and AF that starts mid-strip in 80% of the AF ECGs, times uniform in
1-9 s), six question types per ECG (rate, rhythm, qrs, st, ectopic, rhythm_change), split by
patient (80/20, data seed 0, the same test items for every arm and seed).

Arms (each tokenizer trained on the training ECGs of the run's seed; the LLM is
``TrainConfig.preset("baby")``: a tiny random Llama, full fine-tuning, with ``max_length=1024``, all
the tokenizer's leads, the same optimizer steps and batch size for every arm):

- ``paper_truncated`` (a): the ``paper`` representation (12 leads, 250 Hz, 3,500 merges), the whole
  10 s ECG, cut to the context by the shared truncation policy (the same leading tokens of every
  lead: about the first 3 s);
- ``paper_segments`` (b): ``paper``, 2 s segments, each its own training example with the record's
  question and answer (as the original trains); an item is scored by the majority answer over its
  five segments (``ecgbyte evaluate --segments majority``);
- ``compact_whole`` (c): the ``compact`` representation (I, II, V1-V6 at 100 Hz, derived leads
  rebuilt at decode time), the whole 10 s ECG (cut only where it exceeds the context).

Reported: accuracy per question type and for the items whose evidence lies past the first 3 s
(``meta["late_evidence"]``: the ectopic beat or AF onset at >= 3 s, or an absence that only the
whole strip shows) vs the others, as the mean over seeds with a 95% interval from a two-level
bootstrap (test patients, shared by the arms, so differences are paired; and seeds, per arm);
the differences (c) - (a) and (c) - (b) with their intervals; ECG tokens per ECG (encoded, and
what reaches the model), seconds of each lead the model sees, wall time per stage. The issue's
target: (c) beats (a) and (b) on the late-evidence questions by a margin whose interval excludes
0, and is not worse on the others.

Usage::

    .venv/bin/python benchmarks/context_bench.py            # default (about an hour on 2 CPU cores, 2 runs at a time)
    .venv/bin/python benchmarks/context_bench.py --quick    # smoke test (minutes)
    .venv/bin/python benchmarks/context_bench.py --scale    # a GPU: more ECGs and steps

Writes ``benchmarks/results/context_bench.{json,md}`` and ``context_bench.png``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ARMS: dict[str, dict[str, Any]] = {
    "paper_truncated": {"preset": "paper", "segment_seconds": None, "label": "(a) paper, 10 s truncated"},
    "paper_segments": {"preset": "paper", "segment_seconds": 2.0, "label": "(b) paper, 2 s segments"},
    "compact_whole": {"preset": "compact", "segment_seconds": None, "label": "(c) compact, whole ECG"},
}
PLANS: dict[str, dict[str, Any]] = {
    # calibrated on compact (seed 0, 480 ECGs, 1 thread, answer-only loss): rate 89%, qrs 99%,
    # rhythm 63% after 1,000 steps (at 250 steps every type was at chance); 0.5-1 s per step with two
    # runs in parallel on 2 cores
    "default": dict(n_ecgs=480, steps=1000, batch_size=8, seeds=(0, 1, 2), threads=1),
    "quick": dict(n_ecgs=30, steps=4, batch_size=4, seeds=(0, 1, 2), threads=1),
    "scale": dict(n_ecgs=3000, steps=6000, batch_size=16, seeds=(0, 1, 2), threads=None),
}
CONTEXT = 1024
PROMPT_BUDGET = CONTEXT - 40  # ECG tokens a prompt holds: markers, question and answer take ~40
VERY_LATE_S = 6.0
RECORD_SECONDS = 10.0
N_BOOT = 2000


# ---------------------------------------------------------------------------- pure parts
def groups_of(items: Sequence[Any], *, very_late_s: float = VERY_LATE_S) -> dict[str, np.ndarray]:
    """Indices of the test items per reported group: ``all``, ``late`` (``meta["late_evidence"]``:
    evidence past the first 3 s), ``early``, ``late>=6s`` (evidence at or after ``very_late_s``,
    beyond what the truncated paper context shows of any lead on these ECGs), each question type,
    and ``<type>/late`` / ``<type>/early`` where both occur.

    ``items``: ``QAItem`` s, or the ``test_items`` dicts of a saved report.
    """
    meta = [it.meta if hasattr(it, "meta") else it for it in items]
    qt = np.array([m["question_type"] for m in meta])
    late = np.array([bool(m.get("late_evidence", m.get("late", False))) for m in meta])
    after = np.array([float(m.get("evidence_after_s", 0.0)) for m in meta])
    out: dict[str, np.ndarray] = {
        "all": np.arange(len(meta)),
        "late": np.flatnonzero(late),
        "early": np.flatnonzero(~late),
        f"late>={very_late_s:g}s": np.flatnonzero(after >= very_late_s),
    }
    for t in dict.fromkeys(qt.tolist()):
        out[t] = np.flatnonzero(qt == t)
        for name, mask in (("late", late), ("early", ~late)):
            idx = np.flatnonzero((qt == t) & mask)
            if idx.size and idx.size < out[t].size:
                out[f"{t}/{name}"] = idx
    return {k: v for k, v in out.items() if v.size}


def _interval(point: float, boot: np.ndarray, n: int) -> dict[str, Any]:
    from ecgbyte.eval.bootstrap import percentile_interval

    iv = percentile_interval(point, boot[np.isfinite(boot)], n=n)
    return {**iv.to_dict(), "text": f"{100 * iv.mean:.1f} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"}


def analyse(
    correct: Mapping[str, np.ndarray],
    patients: Sequence[str],
    groups: Mapping[str, np.ndarray],
    *,
    target: str = "compact_whole",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy per arm and group, and ``target`` minus each other arm, with 95% intervals.

    ``correct[arm]`` is ``bool [n_seeds, n_items]`` (one row per model seed, the same items in the
    same order for every arm). Point: the mean over seeds of the accuracy. Interval: a two-level
    percentile bootstrap: each resample draws test patients with replacement (the same draw for
    every arm: differences are paired) and, per arm, seeds with replacement.
    """
    from ecgbyte.eval.bootstrap import cluster_counts

    weights, n_patients = cluster_counts(list(patients), n_boot, seed)  # [B, n]
    rng = np.random.default_rng(seed + 1)
    acc: dict[str, dict[str, Any]] = {}
    boots: dict[str, dict[str, np.ndarray]] = {}
    for arm, c in correct.items():
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != len(patients):
            raise ValueError(f"correct[{arm!r}] must be [n_seeds, {len(patients)}], got {c.shape}")
        pick = rng.integers(0, c.shape[0], size=(n_boot, c.shape[0]))  # seeds drawn per resample
        acc[arm], boots[arm] = {}, {}
        for g, idx in groups.items():
            w = weights[:, idx]  # [B, m]
            with np.errstate(invalid="ignore", divide="ignore"):
                per_seed = c[:, idx] @ w.T / w.sum(axis=1)  # [S, B]: seed s on resample b
            boot = per_seed[pick, np.arange(n_boot)[:, None]].mean(axis=1)  # nan: group not drawn
            boots[arm][g] = boot
            acc[arm][g] = {**_interval(float(c[:, idx].mean()), boot, n_patients), "n_items": int(idx.size)}
    diff: dict[str, dict[str, Any]] = {}
    for arm in correct:
        if arm == target or target not in correct:
            continue
        key = f"{target} - {arm}"
        diff[key] = {}
        for g in groups:
            point = acc[target][g]["mean"] - acc[arm][g]["mean"]
            d = _interval(point, boots[target][g] - boots[arm][g], n_patients)
            d["text"] = f"{100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
            diff[key][g] = d
    # the orders of arms and groups, which a JSON round trip (sorted keys) does not keep
    order = {"arms": list(correct), "groups": list(groups)}
    return {"accuracy": acc, "difference": diff, "verdict": verdict(diff, target), **order}


def verdict(
    diff: Mapping[str, Mapping[str, Mapping[str, Any]]], target: str = "compact_whole"
) -> dict[str, Any]:
    """The issue's target from the differences: late-evidence margins > 0 with intervals above 0,
    early-evidence differences not below 0 (interval's upper end >= 0)."""
    if not diff:
        return {"met": None, "statement": "no comparison arms"}
    late_ok = all(d["late"]["low"] > 0 for d in diff.values() if "late" in d)
    early_ok = all(d["early"]["high"] >= 0 for d in diff.values() if "early" in d)
    parts = []
    for key, d in diff.items():
        other = key.split(" - ", 1)[1]
        late = d.get("late", {}).get("text", "n/a")
        early = d.get("early", {}).get("text", "n/a")
        parts.append(f"vs {other}: late {late} points, early {early}")
    met = bool(late_ok and early_ok)
    head = "Target met" if met else "Target not met"
    return {
        "met": met,
        "late_margin_excludes_0": bool(late_ok),
        "early_not_worse": bool(early_ok),
        "statement": f"{head}: {target} " + "; ".join(parts) + ".",
    }


def majority_by_parent(rows: Sequence[Mapping[str, Any]], parents: Sequence[str]) -> dict[str, str]:
    """One answer per parent item from segment rows (``item_id = "<parent>#k"``): the majority vote
    of :func:`ecgbyte.eval.evaluate.majority_answers` (ties go to the earliest segment)."""
    from ecgbyte.eval.evaluate import majority_answers

    index = {p: i for i, p in enumerate(parents)}
    ordered = sorted(
        rows, key=lambda r: (index[r["item_id"].rsplit("#", 1)[0]], int(r["item_id"].rsplit("#", 1)[1]))
    )
    owner = [index[r["item_id"].rsplit("#", 1)[0]] for r in ordered]
    answers = majority_answers([r["prediction"] for r in ordered], owner, len(parents))
    return dict(zip(parents, answers))


def order(a: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The arms and groups of an :func:`analyse` result in their analysed order (older results: as stored)."""
    return a.get("arms") or list(a["accuracy"]), a.get("groups") or list(next(iter(a["accuracy"].values())))


def accuracy_tables(a: Mapping[str, Any]) -> list[str]:
    """Markdown lines of an :func:`analyse` result: accuracy per group and arm, then the differences."""
    arms, groups = order(a)
    lines = [
        "| group | n | " + " | ".join(ARMS[x]["label"] for x in arms) + " |",
        "|---|---|" + "---|" * len(arms),
    ]
    for g in groups:
        n = a["accuracy"][arms[0]][g]["n_items"]
        lines.append(f"| {g} | {n} | " + " | ".join(a["accuracy"][x][g]["text"] for x in arms) + " |")
    diffs = [k for x in arms for k in a["difference"] if k.endswith(f" - {x}")]
    lines += ["", "Differences (points), 95% interval:", "", "| group | " + " | ".join(diffs) + " |",
              "|---|" + "---|" * len(diffs)]  # fmt: skip
    for g in groups:
        lines.append(f"| {g} | " + " | ".join(a["difference"][k][g]["text"] for k in diffs) + " |")
    return lines


def markdown(report: Mapping[str, Any]) -> str:
    """The Markdown table of a report (accuracy per group and arm, differences, tokens, time)."""
    a = report["analysis"]
    arms, _ = order(a)
    lines = [
        f"## How much ECG does the model see? ({report['plan']}, {CONTEXT}-token context)",
        "",
        f"**{a['verdict']['statement']}**",
        "",
        f"Accuracy (%) on {report['n_test_items']} test questions ({report['n_test_patients']} patients), mean over "
        f"seeds {list(report['seeds'])} with a 95% bootstrap interval (patients and seeds); `late` = evidence "
        "past the first 3 s.",
        "",
        *accuracy_tables(a),
        "",
        "| arm | ECG tokens per record (mean, p95) | ECG tokens in the prompt (mean) | seconds per lead seen | "
        "tokenizer s | train s (CPU s) | eval s (CPU s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in arms:
        s = report["arms"][x]
        lines.append(
            f"| {ARMS[x]['label']} | {s['tokens_per_ecg_mean']:.0f}, {s['tokens_per_ecg_p95']:.0f} | "
            f"{s['prompt_ecg_tokens_mean']:.0f} | {s['seconds_seen_mean']:.2f} | {s['tokenizer_s_mean']:.1f} | "
            f"{s['train_s_mean']:.0f} ({s.get('train_cpu_s_mean', float('nan')):.0f}) | "
            f"{s['eval_s_mean']:.0f} ({s.get('eval_cpu_s_mean', float('nan')):.0f}) |"
        )
    lines += [
        "",
        f"Command: `{report['command']}`; {report['machine']}; total {report['total_s'] / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def plot(
    report: Mapping[str, Any],
    path: Path,
    *,
    title: str = f"Same tiny model, {CONTEXT}-token context: late = evidence past 3 s",
) -> None:
    """Bars: accuracy of each arm on the late / early / each-type groups, with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = report["analysis"]["accuracy"]
    arms, groups = order(report["analysis"])
    groups = [g for g in groups if "/" not in g]
    x = np.arange(len(groups))
    width = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(groups)), 3.6))
    for i, arm in enumerate(arms):
        m = np.array([acc[arm][g]["mean"] for g in groups]) * 100
        lo = m - np.array([acc[arm][g]["low"] for g in groups]) * 100
        hi = np.array([acc[arm][g]["high"] for g in groups]) * 100 - m
        ax.bar(
            x + (i - (len(arms) - 1) / 2) * width,
            m,
            width,
            yerr=[lo, hi],
            capsize=2,
            label=ARMS[arm]["label"],
        )
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- runs
def make_data(n_ecgs: int, seed: int = 0) -> dict[str, list]:
    """Raw (500 Hz, 12-lead) synthetic ECGs with findings, six question types each, split by patient."""
    from ecgbyte.data.splits import split_by_patient
    from ecgbyte.data.synthetic_qa import ALL_TYPES, build_synthetic_qa, synth_config_for
    from ecgbyte.signal.synth import synthesize

    raw = synthesize(
        n_ecgs, seed=seed, fs=500.0, duration_s=RECORD_SECONDS, config=synth_config_for(morphology=True)
    )
    items = build_synthetic_qa(raw, seed=seed, question_types=ALL_TYPES)
    return split_by_patient(items, fractions=(0.8, 0.0, 0.2), seed=seed)


def run_arm(
    arm: str, tok: Any, splits: Mapping[str, list], *, seed: int, plan: Mapping[str, Any], work: Path
) -> dict[str, Any]:
    """Train one arm's model and answer the test items; per-item correctness in test order."""
    from ecgbyte.data.items import segment_items
    from ecgbyte.elm.config import TrainConfig
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import load_run
    from ecgbyte.elm.train import train
    from ecgbyte.eval.metrics import exact_match

    seconds = ARMS[arm]["segment_seconds"]
    data = {"name": "synthetic", "record_seconds": RECORD_SECONDS, "segment_seconds": seconds}
    cfg = TrainConfig.preset(
        "baby",
        seed=seed,
        max_length=CONTEXT,
        keep_leads=None,
        max_steps=int(plan["steps"]),
        batch_size=int(plan["batch_size"]),
        warmup_steps=min(30, max(1, int(plan["steps"]) // 10)),
        max_new_tokens=12,  # the longest answer, "atrial fibrillation", is 9 text tokens with <eos>
        log_every=0,
        extra={"data": data},
    )
    train_items = segment_items(splits["train"], seconds, record_seconds=RECORD_SECONDS, mode="all")
    test = splits["test"]
    run_dir = work / f"{arm}-{seed}"
    t, c = time.perf_counter(), time.process_time()
    summary = train(
        cfg,
        train_items,
        ecg_tokenizer=tok,
        run_dir=run_dir,
        progress=False,
        cache_dir=work / f"cache-{arm}-{seed}",
    )
    train_s, train_cpu_s = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    run = load_run(run_dir, ecg_tokenizer=tok)
    if seconds:
        seg = segment_items(test, seconds, record_seconds=RECORD_SECONDS, mode="all")
        answers = majority_by_parent(predict(run, seg, batch_size=32), [it.item_id for it in test])
    else:
        answers = {r["item_id"]: r["prediction"] for r in predict(run, test, batch_size=32)}
    eval_s, eval_cpu_s = time.perf_counter() - t, time.process_time() - c
    correct = np.array([exact_match(answers[it.item_id], it.answer) for it in test])
    cov = summary.get("lead_coverage") or {}
    seen = [c["mean_seconds"] for c in cov.values()]
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "arm": arm,
        "seed": seed,
        "correct": correct.tolist(),
        "train_s": train_s,
        "eval_s": eval_s,
        "train_cpu_s": train_cpu_s,
        "eval_cpu_s": eval_cpu_s,
        "steps": summary["total_steps"],
        "n_train_examples": summary["n_examples"],
        "n_cut_tokens": summary["n_cut_tokens"],
        "seconds_seen": float(np.mean(seen)) if seen else None,
        "lead_coverage": cov,
        "tokens_trained": summary.get("tokens"),
    }


def _job(
    seed: int, arm: str, plan: Mapping[str, Any], tok_cache: dict | None = None, splits: Mapping | None = None
) -> dict[str, Any]:
    """One (seed, arm) run: data (``splits``, else made again: a spawned worker), the arm's tokenizer
    (trained on the training ECGs of ``seed``; reused from ``tok_cache`` when given), token counts,
    training and scoring."""
    import torch

    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.preset_tokenizer import train_preset

    if plan["threads"]:
        torch.set_num_threads(plan["threads"])
    splits = splits if splits is not None else make_data(plan["n_ecgs"])
    preset = ARMS[arm]["preset"]
    cache = {} if tok_cache is None else tok_cache
    if (preset, seed) not in cache:
        t = time.perf_counter()
        tok = train_preset(unique_ecgs(splits["train"]), preset, seed=seed)
        cache[preset, seed] = (tok, time.perf_counter() - t)
    tok, tok_s = cache[preset, seed]
    whole, prompt = tokens_per_ecg(tok, unique_ecgs(splits["test"])[:60], ARMS[arm]["segment_seconds"])
    with tempfile.TemporaryDirectory(prefix="context_bench-") as tmp:
        run = run_arm(arm, tok, splits, seed=seed, plan=plan, work=Path(tmp))
    return {**run, "tokens_whole": whole, "tokens_prompt": prompt, "tokenizer_s": tok_s}


def _runs(todo: Sequence[tuple[int, str]], plan: Mapping[str, Any], splits: Mapping, *, workers: int):
    """Yield the finished runs of ``todo``: in this process one after the other (``workers`` 1), or
    in ``workers`` spawned processes (each with ``plan["threads"]`` threads; each makes the data again
    rather than receive it pickled) as they finish."""
    if workers <= 1:
        cache: dict = {}
        for seed, arm in todo:
            yield _job(seed, arm, plan, cache, splits)
        return
    from concurrent.futures import as_completed

    from ecgbyte.procs import worker_pool

    with worker_pool(workers, start_method="spawn") as pool:  # workers die with this process
        futures = [pool.submit(_job, seed, arm, dict(plan)) for seed, arm in todo]
        for f in as_completed(futures):
            yield f.result()


def prompt_ids(enc: Any, seconds: float | None = None) -> list[np.ndarray]:
    """Per lead, the ECG token ids of ``enc`` (an ``EncodedEcg``) that one prompt holds after the context
    cut (``seconds``: only the tokens starting in the first ``seconds``, one segment's)."""
    from ecgbyte.data.sequences import TruncationPolicy, _water_fill

    per_lead, _, _ = TruncationPolicy().select(enc)
    if seconds:
        starts = [enc.start_s[enc.lead_offsets[i] : enc.lead_offsets[i + 1]] for i in range(len(per_lead))]
        per_lead = [ids[s < seconds] for ids, s in zip(per_lead, starts)]
    return _water_fill(per_lead, PROMPT_BUDGET)


def tokens_per_ecg(tok: Any, ecgs: Sequence[Any], seconds: float | None) -> tuple[list[int], list[int]]:
    """ECG tokens of each record (encoded, whole) and of what one prompt holds after the context cut."""
    encs = [tok.encode_ecg(e) for e in ecgs]
    return [int(enc.ids.size) for enc in encs], [
        int(sum(x.size for x in prompt_ids(enc, seconds))) for enc in encs
    ]


def item_rows(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The saved description of the test items (what :func:`groups_of` reads back)."""
    return [
        {
            "item_id": it.item_id,
            "patient_id": it.patient_id,
            "question_type": it.meta["question_type"],
            "answer": it.answer,
            "evidence_after_s": it.meta["evidence_after_s"],
            "late": it.meta["late_evidence"],
        }
        for it in items
    ]


def reanalyse(path: Path) -> int:
    """Recompute the analysis, Markdown and plot of a saved report (e.g. after a change of groups)."""
    import json

    from ecgbyte.fileio import atomic_write_text, write_json

    report = json.loads(Path(path).read_text())
    arms = [a for a in ARMS if any(r["arm"] == a for r in report["runs"])]
    correct = {a: np.array([r["correct"] for r in report["runs"] if r["arm"] == a], dtype=bool) for a in arms}
    target = "compact_whole" if "compact_whole" in arms else arms[-1]
    items = report["test_items"]
    report["analysis"] = analyse(correct, [it["patient_id"] for it in items], groups_of(items), target=target)
    write_json(path, report)
    text = markdown(report)
    atomic_write_text(Path(path).with_suffix(".md"), text)
    plot(report, Path(path).with_suffix(".png"))
    print(text)
    return 0


def _stem(plan_name: str) -> str:
    return "context_bench" if plan_name == "default" else f"context_bench_{plan_name}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke test: tiny data, a few steps")
    size.add_argument("--scale", action="store_true", help="a GPU: more ECGs and steps")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="model seeds (default 0 1 2)")
    ap.add_argument("--arms", nargs="+", choices=tuple(ARMS), default=tuple(ARMS))
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per run (overrides the plan)")
    ap.add_argument("--n-ecgs", type=int, default=None, help="synthetic ECGs (overrides the plan)")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs in parallel processes, one thread each (default: 2 on the CPU plans, 1 with --scale)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument(
        "--resume", action="store_true", help="keep the finished runs of an interrupted invocation"
    )
    ap.add_argument(
        "--analyse",
        type=Path,
        default=None,
        metavar="JSON",
        help="recompute tables and plot of a saved report",
    )
    args = ap.parse_args(argv)
    if args.analyse:
        return reanalyse(args.analyse)
    plan_name = "quick" if args.quick else "scale" if args.scale else "default"
    plan = dict(PLANS[plan_name])
    if args.seeds:
        plan["seeds"] = tuple(args.seeds)
    changed = {k: v for k, v in (("steps", args.steps), ("n_ecgs", args.n_ecgs)) if v}
    plan.update(changed)
    label = plan_name + (" with " + ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "")
    import torch
    from tqdm import tqdm

    from ecgbyte.fileio import atomic_write_text, write_json

    if plan["threads"]:
        torch.set_num_threads(plan["threads"])
    t0 = time.perf_counter()
    splits = make_data(plan["n_ecgs"])
    test = splits["test"]
    partial = args.out / f"{_stem(plan_name)}.partial.json"
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in plan.items()}
    runs: list[dict[str, Any]] = []
    if args.resume and partial.is_file():  # runs of an interrupted invocation with the same plan
        import json

        saved = json.loads(partial.read_text())
        if saved.get("plan_settings") == settings:
            runs = [r for r in saved["runs"] if r["arm"] in args.arms]
    done = {(r["arm"], r["seed"]) for r in runs}
    todo = [(seed, arm) for seed in plan["seeds"] for arm in args.arms if (arm, seed) not in done]
    bar = tqdm(total=len(todo), desc="context_bench", unit="run")
    args.out.mkdir(parents=True, exist_ok=True)
    for run in _runs(
        todo, plan, splits, workers=args.workers or (1 if args.scale else min(2, os.cpu_count() or 1))
    ):
        runs.append(run)
        write_json(partial, {"plan_settings": settings, "runs": runs})
        bar.set_postfix_str(f"{run['arm']} seed {run['seed']} done")
        bar.update()
    bar.close()
    runs.sort(key=lambda r: (r["seed"], list(ARMS).index(r["arm"])))
    correct = {a: np.array([r["correct"] for r in runs if r["arm"] == a], dtype=bool) for a in args.arms}
    target = "compact_whole" if "compact_whole" in args.arms else args.arms[-1]
    analysis = analyse(correct, [it.patient_id for it in test], groups_of(test), target=target)
    arms_summary = {}
    for a in args.arms:
        rs = [r for r in runs if r["arm"] == a]
        seen = [r["seconds_seen"] for r in rs if r["seconds_seen"] is not None]
        arms_summary[a] = {
            "preset": ARMS[a]["preset"],
            "segment_seconds": ARMS[a]["segment_seconds"],
            "tokens_per_ecg_mean": float(np.mean([x for r in rs for x in r["tokens_whole"]])),
            "tokens_per_ecg_p95": float(np.percentile([x for r in rs for x in r["tokens_whole"]], 95)),
            "prompt_ecg_tokens_mean": float(np.mean([x for r in rs for x in r["tokens_prompt"]])),
            "seconds_seen_mean": float(np.mean(seen)) if seen else float("nan"),
            "tokenizer_s_mean": float(np.mean([r["tokenizer_s"] for r in rs])),
            "train_s_mean": float(np.mean([r["train_s"] for r in rs])),
            "eval_s_mean": float(np.mean([r["eval_s"] for r in rs])),
            "train_cpu_s_mean": float(np.mean([r["train_cpu_s"] for r in rs])),
            "eval_cpu_s_mean": float(np.mean([r["eval_cpu_s"] for r in rs])),
            "steps": rs[0]["steps"],
            "n_train_examples": rs[0]["n_train_examples"],
        }
    report = {
        "plan": label,
        "plan_settings": settings,
        "context": CONTEXT,
        "seeds": list(plan["seeds"]),
        "n_test_items": len(test),
        "n_test_patients": len({it.patient_id for it in test}),
        "n_train_items": len(splits["train"]),
        "test_items": item_rows(test),
        "runs": runs,
        "arms": arms_summary,
        "analysis": analysis,
        "command": "python benchmarks/context_bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {platform.system()}, torch threads {torch.get_num_threads()}",
        "total_s": time.perf_counter() - t0,
    }
    stem = _stem(plan_name)
    write_json(args.out / f"{stem}.json", report)
    partial.unlink(missing_ok=True)
    text = markdown(report)
    atomic_write_text(args.out / f"{stem}.md", text)
    plot(report, args.out / f"{stem}.png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
