"""Does end-to-end pay off? A pure analysis of the claim benchmark's results JSON (issue 14).

``benchmarks/claim_bench.py`` writes one row per run (system x data fraction x seed); this
module turns those rows into the numbers the README quotes, with no other input:

- **one target**, stated once: the two-stage system's final accuracy on the full test set at 100%
  of the training data, mean over its seeds, with a bootstrap interval over those seeds;
- **time to target** of a run: the cost of the first evaluation point whose accuracy (on the same
  full test set) reaches the target, stage 1 included, in three units: wall seconds, optimizer
  steps and processed tokens (``None`` if the run never reaches it);
- **the speed ratio**, in each unit: the two-stage system's full training cost (stage 1 + all of
  its LLM training: what it paid for the target quality) divided by the end-to-end system's time
  to target at 100% data. Above 1: end to end is faster; below 1: slower; reported either way;
- **data to target** of a system: the smallest training fraction whose mean final accuracy over
  seeds reaches the target (``None`` if none does);
- **ECGs learnt from** (rows with ``n_ecgs``): the distinct ECGs a system used at 100% data, a
  two-stage system's separate stage-1 corpus included; the **data ratio** is end to end's ECGs at its
  data to target over the two-stage system's at 100% (our reading of the paper's "48% of the data").

Intervals are 95% percentile bootstraps over seeds (seeds resampled with replacement, each system
and fraction independently; a seeded generator, so the analysis is deterministic); a resample in
which a seed never reaches the target costs infinity (the bound is then "not reached").

Row format (``results["runs"]``; the benchmark writes it, the tests build it by hand)::

    {"system": "end_to_end" | "two_stage", "fraction": 1.0, "seed": 0,
     "stage1": {"wall_s": 12.0, "steps": 300, "tokens": 0},
     "curve": [{"step": 10, "wall_s": 3.0, "tokens": 5000, "accuracy": 61.5}, ...],
     "final": {"accuracy": 80.0, "per_type": {"rate": 90.0, ...}, "nlg": {"bleu4": ...}},
     "n_ecgs": 1125}  # optional: distinct ECGs learnt from (stage-1 corpus + the LLM's)

``curve`` is cumulative LLM-side cost (stage 1 excluded; this module adds it); its last point is
the end of training and its accuracy equals ``final.accuracy``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ecgbyte.errors import ConfigError

SYSTEMS = ("end_to_end", "two_stage")
NAMES = {"end_to_end": "end-to-end (ECG tokens)", "two_stage": "two-stage (encoder + projection)"}
UNITS = ("wall_s", "steps", "tokens")
UNIT_NAMES = {"wall_s": "wall s", "steps": "optimizer steps", "tokens": "processed tokens"}
N_BOOT = 4000
CONFIDENCE = 0.95


# ---------------------------------------------------------------------------- per run
def _cost(run: Mapping[str, Any], point: Mapping[str, Any], unit: str) -> float:
    key = "step" if unit == "steps" else unit
    return float(run["stage1"][unit]) + float(point[key])


def time_to_target(run: Mapping[str, Any], target: float, unit: str = "wall_s") -> float | None:
    """Stage-1 cost + the cost at the first curve point with ``accuracy >= target`` (``None``: never)."""
    for p in run["curve"]:
        if p["accuracy"] >= target:
            return _cost(run, p, unit)
    return None


def total_cost(run: Mapping[str, Any], unit: str = "wall_s") -> float:
    """Stage-1 cost + the cost of the whole LLM training (the last curve point)."""
    return _cost(run, run["curve"][-1], unit)


# ---------------------------------------------------------------------------- bootstrap
def _quantiles(values: np.ndarray) -> tuple[float, float]:
    a = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(values, [a, 1 - a], method="inverted_cdf")
    return float(lo), float(hi)


def _resampled_means(values: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """``N_BOOT`` means of ``values`` resampled with replacement (``inf`` stays ``inf``)."""
    v = np.asarray(values, dtype=float)
    idx = rng.integers(len(v), size=(N_BOOT, len(v)))
    with np.errstate(invalid="ignore"):
        return v[idx].mean(axis=1)


def _inf(x: float | None) -> float:
    return math.inf if x is None else float(x)


def _fin(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _estimate(point: float, boot: np.ndarray) -> dict[str, Any]:
    lo, hi = _quantiles(boot)
    return {"mean": _fin(point), "low": _fin(lo), "high": _fin(hi)}


def seed_bootstrap(values: Sequence[float | None], seed: int = 0) -> dict[str, Any]:
    """Mean over seeds and its 95% percentile bootstrap interval; ``None`` values count as never (inf).

    Returns ``{"mean", "low", "high", "n", "values"}``; a bound or mean that is infinite is ``None``.
    """
    if not values:
        raise ConfigError("a bootstrap over seeds needs at least one seed")
    v = [_inf(x) for x in values]
    boot = _resampled_means(v, np.random.default_rng(seed))
    return {**_estimate(float(np.mean(v)), boot), "n": len(v), "values": list(values)}


# ---------------------------------------------------------------------------- the analysis
def _runs(results: Mapping[str, Any], system: str, fraction: float | None = None) -> list[dict[str, Any]]:
    rows = [r for r in results["runs"] if r["system"] == system]
    if fraction is not None:
        rows = [r for r in rows if abs(r["fraction"] - fraction) < 1e-9]
    return sorted(rows, key=lambda r: r["seed"])


def _fractions(results: Mapping[str, Any], system: str) -> list[float]:
    return sorted({float(r["fraction"]) for r in _runs(results, system)})


def _mean_ecgs(results: Mapping[str, Any], system: str, fraction: float | None) -> float | None:
    """Mean ``n_ecgs`` of a system's runs at ``fraction`` (``None``: no fraction, or rows without it)."""
    rows = [] if fraction is None else _runs(results, system, fraction)
    if not rows or any("n_ecgs" not in r for r in rows):
        return None
    return float(np.mean([r["n_ecgs"] for r in rows]))


def _data_to_target(
    results: Mapping[str, Any], system: str, target: float, rng: np.random.Generator
) -> dict[str, Any]:
    """Smallest fraction whose mean final accuracy reaches ``target``; bootstrap over seeds per fraction."""
    fracs = _fractions(results, system)
    finals = {f: [r["final"]["accuracy"] for r in _runs(results, system, f)] for f in fracs}
    means = {f: float(np.mean(finals[f])) for f in fracs}
    point = next((f for f in fracs if means[f] >= target), None)
    boot = np.full(N_BOOT, math.inf)
    for f in reversed(fracs):  # smallest fraction wins: fill from the largest down
        ok = _resampled_means(finals[f], rng) >= target
        boot[ok] = f
    lo, hi = _quantiles(boot)
    return {"fraction": point, "low": _fin(lo), "high": _fin(hi), "mean_by_fraction": means}


def _towards(
    results: Mapping[str, Any], ref: str, other: str, rng: np.random.Generator, seed: int
) -> dict[str, Any]:
    """The claim with ``ref``'s final mean at 100% data as the target and ``other`` chasing it."""
    refs, others = _runs(results, ref, 1.0), _runs(results, other, 1.0)
    target = seed_bootstrap([r["final"]["accuracy"] for r in refs], seed)
    t = float(target["mean"])
    out: dict[str, Any] = {"reference": ref, "target": target}
    out["time_to_target"] = {
        s: {u: seed_bootstrap([time_to_target(r, t, u) for r in _runs(results, s, 1.0)], seed) for u in UNITS}
        for s in SYSTEMS
    }
    out["ratio"] = {}
    for u in UNITS:
        num = [total_cost(r, u) for r in refs]
        den = [_inf(time_to_target(r, t, u)) for r in others]
        point = float(np.mean(num)) / float(np.mean(den))
        with np.errstate(divide="ignore", invalid="ignore"):
            boot = _resampled_means(num, rng) / _resampled_means(den, rng)
        lo, hi = _quantiles(boot)
        reached = math.isfinite(float(np.mean(den)))
        out["ratio"][u] = (
            {"ratio": point, "low": lo, "high": _fin(hi)}
            if reached
            else {"ratio": None, "low": None, "high": None}
        )
    out["data_to_target"] = {s: _data_to_target(results, s, t, rng) for s in SYSTEMS}
    out["ecgs"] = {s: _mean_ecgs(results, s, 1.0) for s in SYSTEMS}
    f = out["data_to_target"][other]["fraction"]
    at, full = _mean_ecgs(results, other, f), out["ecgs"][ref]
    out["data_ratio"] = None if f is None or at is None or not full else at / full
    return out


def analyse(results: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """The claim's numbers, table and sentence from a results dict (pure; deterministic in ``seed``).

    Returns ``{"target", "time_to_target", "full_cost", "ratio", "data_to_target", "ecgs",
    "data_ratio", "reverse", "table", "sentence"}``. ``time_to_target[system][unit]`` is a
    :func:`seed_bootstrap` dict over that system's 100%-data seeds; ``ratio[unit]`` is ``{"ratio",
    "low", "high"}`` (two-stage full cost / end-to-end time to target; ``None`` where end to end never
    reaches the target). ``reverse`` holds the same numbers the other way round (end to end's final
    mean as the target, the two-stage system chasing it), so a ratio is reported whichever way the
    comparison comes out.
    """
    for s in SYSTEMS:
        if not _runs(results, s, 1.0):
            raise ConfigError(f"results have no {s} runs at fraction 1.0; the claim needs both systems")
    rng = np.random.default_rng(seed)
    out = _towards(results, "two_stage", "end_to_end", rng, seed)
    out["n_test_items"] = results.get("n_test_items")
    out["full_cost"] = {
        s: {u: seed_bootstrap([total_cost(r, u) for r in _runs(results, s, 1.0)], seed) for u in UNITS}
        for s in SYSTEMS
    }
    out["reverse"] = _towards(results, "end_to_end", "two_stage", rng, seed)
    out["table"] = table(results, out)
    out["sentence"] = sentence(out)
    return out


# ---------------------------------------------------------------------------- text
def _num(x: float | None, unit: str) -> str:
    if x is None:
        return "never"
    if unit == "wall_s":
        return f"{x:.0f}"
    return f"{x:,.0f}" if x >= 1000 else f"{x:.0f}"


def _iv(d: Mapping[str, Any], unit: str = "pct") -> str:
    f = (lambda x: "never" if x is None else f"{x:.1f}") if unit == "pct" else (lambda x: _num(x, unit))
    if d.get("mean") is None:
        return "not reached"
    return f"{f(d['mean'])} [{f(d['low'])}, {f(d['high'])}]"


def _ratio(d: Mapping[str, Any]) -> str:
    if d["ratio"] is None:
        return "n/a (not reached)"
    hi = "inf" if d["high"] is None or not math.isfinite(d["high"]) else f"{d['high']:.2f}"
    return f"{d['ratio']:.2f}x [{d['low']:.2f}, {hi}]"


def table(results: Mapping[str, Any], a: Mapping[str, Any]) -> str:
    """Markdown: final accuracy per system x fraction (mean [95% bootstrap over seeds]), then costs."""
    fr = sorted({float(r["fraction"]) for r in results["runs"]})
    lines = [
        "| system | " + " | ".join(f"{100 * f:.0f}% data" for f in fr) + " |",
        "|---|" + "---|" * len(fr),
    ]
    for s in SYSTEMS:
        cells = []
        for f in fr:
            rows = _runs(results, s, f)
            if rows:
                b = seed_bootstrap([r["final"]["accuracy"] for r in rows])
                cells.append(f"{_iv(b)} (n={len(rows)})")
            else:
                cells.append("-")
        lines.append(f"| {NAMES[s]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| system | cost unit | time to target | full training cost | ratio (two-stage cost / e2e time) |",
    ]
    lines.append("|---|---|---|---|---|")
    for u in UNITS:
        for s in SYSTEMS:
            r = _ratio(a["ratio"][u]) if s == "end_to_end" else ""
            lines.append(
                f"| {NAMES[s]} | {UNIT_NAMES[u]} | {_iv(a['time_to_target'][s][u], u)} | "
                f"{_iv(a['full_cost'][s][u], u)} | {r} |"
            )
    return "\n".join(lines)


def _frac(x: float | None) -> str:
    return "none" if x is None else f"{100 * x:.0f}%"


def _corpus(a: Mapping[str, Any]) -> bool:
    """Did the two-stage system learn from more ECGs than end to end at 100% (a stage-1 corpus)?"""
    ecgs = a.get("ecgs") or {}
    return bool(ecgs.get("two_stage") and ecgs.get("end_to_end") and ecgs["two_stage"] > ecgs["end_to_end"])


def _reverse(a: Mapping[str, Any]) -> str:
    """The other way round: how fast, and on how much data, the two-stage system reaches end to end's
    final accuracy (ratio: end to end's full training cost / the two-stage time to it)."""
    rv = a.get("reverse")
    if not rv:
        return ""
    tg, tt, w = rv["target"], rv["time_to_target"]["two_stage"], rv["ratio"]["wall_s"]
    d = rv["data_to_target"]["two_stage"]
    out = f" The other way round, end-to-end's final accuracy is {tg['mean']:.1f}% [{tg['low']:.1f}, {tg['high']:.1f}]"
    if tt["wall_s"]["mean"] is None:
        k = sum(v is not None for v in tt["wall_s"]["values"])
        return (
            out + f"; the two-stage system does not reach it on every seed ({k} of {tt['wall_s']['n']} do)."
        )
    out += (
        f"; the two-stage system reaches it after {_iv(tt['wall_s'], 'wall_s')} s, "
        f"{_iv(tt['steps'], 'steps')} optimizer steps and {_iv(tt['tokens'], 'tokens')} processed tokens "
        f"(stage 1 included): a ratio of {_ratio(w)} in wall time ({'faster' if w['ratio'] >= 1 else 'slower'}"
        f" than end-to-end's full training), {_ratio(rv['ratio']['steps'])} in steps and "
        f"{_ratio(rv['ratio']['tokens'])} in tokens; it needs {_frac(d['fraction'])} "
        f"[{_frac(d['low'])}, {_frac(d['high'])}] of the LLM's data"
    )
    if rv.get("data_ratio") is not None and _corpus(a):
        out += f", {rv['data_ratio']:.1f}x end-to-end's ECGs with its stage-1 corpus"
    return out + "."


def sentence(a: Mapping[str, Any]) -> str:
    """The one sentence: the target once, then time and data to target with intervals, ratio either way."""
    tg = a["target"]
    n = a.get("n_test_items")
    head = (
        f"Target: the two-stage system's final accuracy on the full test set"
        f"{f' ({n} questions)' if n else ''}, {tg['mean']:.1f}% [{tg['low']:.1f}, {tg['high']:.1f}] "
        f"over {tg['n']} seeds."
    )
    tt = a["time_to_target"]["end_to_end"]
    n_reached = sum(v is not None for v in tt["wall_s"]["values"])
    d = a["data_to_target"]["end_to_end"]
    data = (
        f" With less data, the smallest fraction whose mean reaches the target is {_frac(d['fraction'])} "
        f"[{_frac(d['low'])}, {_frac(d['high'])}]."
    )
    ecgs = a.get("ecgs") or {}
    if ecgs.get("two_stage") and ecgs.get("end_to_end"):
        data += (
            f" At 100% data both systems learnt from {ecgs['two_stage']:,.0f} ECGs"
            if not _corpus(a)
            else f" At 100% data the two-stage system learnt from {ecgs['two_stage']:,.0f} ECGs (its stage-1"
            f" corpus included), end-to-end from {ecgs['end_to_end']:,.0f}"
        )
        ratio = a.get("data_ratio")
        data += (
            "." if ratio is None else f"; end-to-end reaches the target on {100 * ratio:.0f}% of that data."
        )
    if tt["wall_s"]["mean"] is None:
        return (
            head + f" End-to-end does not reach it at 100% data ({n_reached} of {tt['wall_s']['n']} seeds do"
            f" within their budget), so no speed ratio is defined." + data + _reverse(a)
        )
    w, s, k = (a["ratio"][u] for u in UNITS)
    verb = "faster" if w["ratio"] >= 1 else "slower"
    return (
        head + f" End-to-end reaches it after {_iv(tt['wall_s'], 'wall_s')} s, {_iv(tt['steps'], 'steps')} "
        f"optimizer steps and {_iv(tt['tokens'], 'tokens')} processed tokens (stage 1 included); the two-stage "
        f"system's full training costs {_iv(a['full_cost']['two_stage']['wall_s'], 'wall_s')} s: a ratio of "
        f"{_ratio(w)} in wall time ({verb}), {_ratio(s)} in steps and {_ratio(k)} in tokens." + data
    )


__all__ = ["analyse", "seed_bootstrap", "sentence", "table", "time_to_target", "total_cost"]
