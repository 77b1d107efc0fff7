"""Outputs of the claim benchmark: the markdown (through ``ecgbyte.eval.claim.analyse``), plots, evidence."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.eval.claim import NAMES, SYSTEMS, analyse

COLORS = {"end_to_end": "C0", "two_stage": "C3"}


def setup_table(results: dict[str, Any]) -> str:
    """Leads, rate, seconds, tokens per ECG, soft tokens, LLM, parameters, steps: one row per system."""
    s, plan = results["setup"], results["plan"]
    rows = {k: [r for r in results["runs"] if r["system"] == k and r["fraction"] == 1.0] for k in SYSTEMS}
    llm = "tiny Llama (random init, full fine-tuning)" if s["model"] == "tiny" else f"{s['model']} (LoRA)"
    e2e_repr = "compact preset" if s["representation"] == "compact" else f"BPE, {s['n_merges']} merges"
    n_corpus = s.get("pretrain_ecgs", 0)
    corpus = f"a separate corpus of {n_corpus:,} ECG-report pairs" if n_corpus else "the LLM's training ECGs"
    lines = [
        "| | end-to-end | two-stage |",
        "|---|---|---|",
        f"| input | {', '.join(s['leads'])}; {s['seconds']:g} s at {s['fs']:g} Hz | same |",
        f"| ECG input of the LLM | ECG tokens ({e2e_repr}) | {s['soft_tokens']} soft tokens over time, "
        f"{s['projector']} projection |",
        f"| tokens per ECG | {np.mean([r['tokens_per_ecg'] for r in rows['end_to_end']]):.0f} | "
        f"{s['soft_tokens']} |",
        f"| stage 1 | tokenizer training on the LLM's training ECGs | 1-D ResNet, ECG-report contrastive, "
        f"{s['enc_epochs']:g} epochs, on {corpus} |",
        f"| ECGs learnt from at 100% data | {_ecgs(rows['end_to_end'])} | {_ecgs(rows['two_stage'])} |",
        f"| LLM | {llm} | same |",
        *([_params_row(results["parameters"])] if "parameters" in results else []),
        f"| LLM steps at 100% data | {rows['end_to_end'][0]['steps']} | {rows['two_stage'][0]['steps']} |",
        f"| stage-1 steps | {rows['end_to_end'][0]['stage1']['steps']} | {rows['two_stage'][0]['stage1']['steps']} |",
        f"| seeds x fractions | {len(plan['seeds'])} x {len(results['fractions'])} | same |",
        f"| evaluation points per run | {plan['points']} (full QA test set, {results['n_test_items']} questions) "
        "| same |",
    ]
    return "\n".join(lines)


def _params_row(p: dict[str, dict[str, int]]) -> str:
    def m(n: int) -> str:
        return f"{n / 1e6:.2f} M"

    e2e, ts = p["end_to_end"], p["two_stage"]
    return (
        f"| parameters trained (of the LLM's) | {m(e2e['trained'])} of {m(e2e['total'])} | {m(ts['trained'])} of "
        f"{m(ts['total'])} (projector included), + a frozen {m(ts['stage1_encoder'])} encoder |"
    )


def _ecgs(rows: list[dict[str, Any]]) -> str:
    return f"{rows[0]['n_ecgs']:,}" if rows and "n_ecgs" in rows[0] else "n/a"


def per_type_table(results: dict[str, Any]) -> str:
    """Final accuracy per question type and the report task's NLG metrics at 100% data (mean over seeds)."""
    types = sorted({t for r in results["runs"] for t in r["final"]["per_type"]})
    nlg = ("bleu4", "rougeL", "meteor")
    lines = ["| system | " + " | ".join(types) + " | report BLEU-4 | ROUGE-L | METEOR |",
             "|---|" + "---|" * (len(types) + 3)]  # fmt: skip
    for s in SYSTEMS:
        rows = [r for r in results["runs"] if r["system"] == s and r["fraction"] == 1.0]
        cells = [f"{np.mean([r['final']['per_type'].get(t, np.nan) for r in rows]):.1f}" for t in types]
        for m in nlg:
            v = [r["final"]["nlg"].get(m) for r in rows]
            cells.append("n/a" if any(x is None for x in v) else f"{np.mean(v):.3f}")
        lines.append(f"| {NAMES[s]} | " + " | ".join(cells) + " |")
    if "majority_class" in results:  # the share of each type's most frequent test answer
        cells = [
            f"{results['majority_class'][t]:.1f}" if t in results["majority_class"] else "n/a" for t in types
        ]
        lines.append("| majority class (no ECG) | " + " | ".join(cells) + " | | | |")
    return "\n".join(lines)


def markdown(results: dict[str, Any], a: dict[str, Any]) -> str:
    return "\n".join([
        f"## Does end-to-end pay off? (plan `{results['plan_name']}`)",
        "",
        f"**{a['sentence']}**",
        "",
        "Setup:",
        "",
        setup_table(results),
        "",
        "Final QA accuracy (%) on the full test set, mean [95% bootstrap over seeds], per data fraction:",
        "",
        a["table"],
        "",
        "Per question type (accuracy %) and the report task (100% data, mean over seeds):",
        "",
        per_type_table(results),
        "",
        (
            f"**Unfinished plan**: {len(results['missing_runs'])} runs missing "
            f"({', '.join(f'{s} {100 * f:.0f}% seed {d}' for f, d, s in results['missing_runs'])}).\n"
            if results.get("missing_runs")
            else ""
        )
        + f"Reports: {results['report_generator']}. Command: `{results['command']}`; {results['machine']}; "
        f"this call {results['total_s'] / 60:.1f} min"
        + (
            f"; stage 1 + LLM training of all runs {results['runs_wall_s'] / 60:.1f} min (evaluation excluded)."
            if "runs_wall_s" in results
            else "."
        ),
        "",
    ])  # fmt: skip


def plot(results: dict[str, Any], a: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecgbyte.fileio import save_figure

    paths = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, unit, key in zip(axes, ("wall_s", "steps", "tokens"), ("wall_s", "step", "tokens"), strict=True):
        for r in results["runs"]:
            if r["fraction"] != 1.0:
                continue
            x = [r["stage1"][unit] + p[key] for p in r["curve"]]
            ax.plot([r["stage1"][unit], *x], [0, *[p["accuracy"] for p in r["curve"]]], marker=".",
                    color=COLORS[r["system"]], alpha=0.7, label=NAMES[r["system"]] if r["seed"] == 0 else None)  # fmt: skip
        ax.axhline(a["target"]["mean"], color="grey", ls="--", lw=0.8)
        ax.set(xlabel=f"{unit} incl. stage 1", title=f"learning curves ({unit})")
    axes[0].set(ylabel="QA accuracy (%)", ylim=(0, 100))
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "claim_bench_curves.png", dpi=110))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for s in SYSTEMS:
        m = a["data_to_target"][s]["mean_by_fraction"]
        for r in results["runs"]:
            if r["system"] == s:
                ax.scatter(100 * r["fraction"], r["final"]["accuracy"], color=COLORS[s], s=10, alpha=0.6)
        ax.plot([100 * f for f in m], list(m.values()), marker="o", color=COLORS[s], label=NAMES[s])
    ax.axhline(a["target"]["mean"], color="grey", ls="--", lw=0.8)
    ax.set(xlabel="training data (%)", ylabel="final QA accuracy (%)", ylim=(0, 100), title="data efficiency")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "claim_bench_fractions.png", dpi=110))
    plt.close(fig)
    return paths


def write_outputs(results: dict[str, Any], out: Path, *, evidence: Path | None = None) -> dict[str, Any]:
    """Analyse, write ``claim_bench.{json,md}`` + plots to ``out`` (and copy them to ``evidence``)."""
    from ecgbyte.fileio import atomic_write_text, write_json

    out.mkdir(parents=True, exist_ok=True)
    a = analyse(results)
    md = markdown(results, a)
    files = [write_json(out / "claim_bench.json", results), atomic_write_text(out / "claim_bench.md", md)]
    files += plot(results, a, out)
    print(md, flush=True)
    if evidence is not None:
        evidence.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, evidence / Path(f).name)
        atomic_write_text(
            evidence / "README.md",
            "# Evidence: claim benchmark (issue 14)\n\n"
            f"Made by `{results['command']}` ({results['machine']}, {results['total_s'] / 60:.1f} min).\n\n"
            "`claim_bench.json` holds every run; `ecgbyte.eval.claim.analyse(json.load(...))` recomputes the\n"
            "sentence and the tables of `claim_bench.md` (and of the README section) from it.\n",
        )
    return a
