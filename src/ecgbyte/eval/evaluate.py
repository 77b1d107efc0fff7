"""``evaluate_run``: score one or more trained runs (seeds / checkpoints) on a split, with ablations.

For each run directory: rebuild the split from the run's dataset spec (``config.extra["data"]``,
see :mod:`ecgbyte.data.registry`) unless items are given, generate answers in length-sorted
batches, score them with :func:`ecgbyte.eval.metrics.compute_metrics`, then do the same for each
signal-use ablation (:mod:`ecgbyte.eval.ablations`).

Decoding (``decode``): ``"greedy"`` (default; the run's ``num_beams``, 1 = greedy) or
``"sample"``, the original ECG-Byte evaluation's: one sampled pass per seed (default
:data:`~ecgbyte.elm.generate.PAPER_SEEDS` 0, 42, 123, 456, 789) with its sampling settings
(:data:`~ecgbyte.elm.generate.PAPER_SAMPLING`: temperature 0.6, top-p 0.9, top-k 50), every
ablation decoded with the same seeds, scores kept per seed. ``summary["decoding"]["label"]``
says which, in words.

The intervals, the primary metric and the flag are :mod:`ecgbyte.eval.summary`'s: mean ± 95%
t-interval over runs (or over one run's sampling seeds), else a seeded 95% cluster bootstrap over
one run's patients, paired for the drops (:mod:`ecgbyte.eval.bootstrap`). ``ignores_ecg`` is set
when no ablation's drop of the primary metric has its interval above 0.

Outputs: ``evaluation_<split>.json`` (everything) and, per run,
``RUN_DIR/eval/<split>_predictions.jsonl`` (baseline and ablated answers per item, one row per
item and sampling seed); the report layer (:mod:`ecgbyte.report`) turns the summary into
Markdown tables and the HTML page.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgbyte.data.items import QAItem
from ecgbyte.elm.generate import PAPER_SAMPLING, PAPER_SEEDS, check_decoding
from ecgbyte.elm.run import RunDir
from ecgbyte.errors import ConfigError
from ecgbyte.eval.ablations import ABLATIONS, ablation_examples, generate_sorted
from ecgbyte.eval.bootstrap import bootstrap_run, item_statistics
from ecgbyte.eval.metrics import METRICS, accuracy_by_type, compute_metrics_items
from ecgbyte.eval.summary import default_primary, mean_over_seeds, summarize_evaluation
from ecgbyte.limits import check_int, check_seed

DECODES: tuple[str, ...] = ("greedy", "sample")
# metrics computed without the NLG pass (compute_metrics_items(nlg=False))
FAST_METRICS: tuple[str, ...] = ("accuracy", "token_f1")


def parse_seeds(seeds: Sequence[int] | str | None) -> list[int] | None:
    """Seeds as ints: ``"0,42,123"`` (the ``--seeds`` text) or a sequence; ``None`` stays ``None``."""
    if seeds is None or not isinstance(seeds, str):
        return None if seeds is None else [check_seed(x, "seeds") for x in seeds]
    try:
        return [check_seed(int(x), "--seeds") for x in seeds.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds {seeds!r}: not comma-separated integers in 0..2**32-1; pass e.g. --seeds 0,42,123,456,789"
        ) from None


def decoding_spec(
    decode: str, seeds: Sequence[int] | str | None, *, num_beams: int, max_new_tokens: int
) -> dict[str, Any]:
    """The decoding of an evaluation, as the summary stores it (``label``: the same in words).

    ``decode="greedy"``: the deterministic decoding (``num_beams`` 1 = greedy, more = beam
    search), no seeds. ``decode="sample"``: the original's sampling, one pass per seed of
    ``seeds`` (ints or ``"0,42,123"``; default :data:`~ecgbyte.elm.generate.PAPER_SEEDS`).
    """
    seeds = parse_seeds(seeds)
    if decode not in DECODES:
        raise ConfigError(f"unknown decoding {decode!r}; choose one of {', '.join(DECODES)}")
    if decode == "greedy":
        if seeds:
            raise ConfigError(
                "seeds are for sampling decoding; pass decode='sample' (--decode sample) or no seeds"
            )
        method = "greedy" if num_beams == 1 else "beam"
        what = "greedy" if num_beams == 1 else f"beam search ({num_beams} beams)"
        return {
            "method": method,
            "num_beams": num_beams,
            "seeds": [],
            "max_new_tokens": max_new_tokens,
            "label": f"{what}, up to {max_new_tokens} new tokens",
        }
    seeds = list(PAPER_SEEDS if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(
            f"sampling needs one or more distinct seeds, got {seeds}; e.g. --seeds 0,42,123,456,789"
        )
    t, p, k = PAPER_SAMPLING["temperature"], PAPER_SAMPLING["top_p"], int(PAPER_SAMPLING["top_k"])
    return {
        "method": "sample",
        "num_beams": 1,
        "seeds": [int(x) for x in seeds],
        "temperature": t,
        "top_p": p,
        "top_k": k,
        "max_new_tokens": max_new_tokens,
        "label": (
            f"sampling as the original (temperature {t:g}, top-p {p:g}, top-k {k}), "
            f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))}), "
            f"up to {max_new_tokens} new tokens"
        ),
    }


def items_for_run(run: RunDir | str | os.PathLike[str], split: str) -> list[QAItem]:
    """The QA items of ``split`` of a run, rebuilt from its stored dataset spec (once per ``RunDir``)."""
    return RunDir.open(run).items(split)


def generate_split(
    run: RunDir | str | os.PathLike[str],
    split: str,
    out: str | os.PathLike[str],
    *,
    limit: int | None = None,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    decode: str = "greedy",
    seeds: Sequence[int] | str | None = None,
) -> dict[str, Any]:
    """Answer every item of ``split`` (``ecgbyte generate``): predictions JSONL at ``out``.

    ``decode="sample"``: one pass per seed of ``seeds`` (see :func:`decoding_spec`), each row
    with its ``seed``. Returns ``{"n", "out", "decoding", "exact_match"}`` with the exact-match
    accuracy per question type (over all rows), and ``"exact_match_by_seed"`` when sampling.
    """
    from ecgbyte.data.sequences import EncodedCache
    from ecgbyte.elm.generate import predict
    from ecgbyte.fileio import write_jsonl

    check_decoding(batch_size, max_new_tokens, num_beams)
    if limit is not None:
        check_int(limit, "limit", 1)
    run = RunDir.open(run)
    if decode == "sample" and num_beams not in (None, 1):
        raise ConfigError(f"sampling decodes with one beam, got --num-beams {num_beams}; drop --num-beams")
    dec = decoding_spec(
        decode,
        seeds,
        num_beams=run.config.num_beams if num_beams is None else num_beams,
        max_new_tokens=run.config.max_new_tokens if max_new_tokens is None else max_new_tokens,
    )
    items = run.items(split)[:limit]
    kw = dict(batch_size=batch_size, max_new_tokens=max_new_tokens, cache=EncodedCache(run.ecg_tokenizer))
    sample = dec["method"] == "sample"
    rows, by_seed = [], {}
    for s in dec["seeds"] if sample else [None]:
        part = predict(run, items, num_beams=None if sample else num_beams, do_sample=sample, seed=s, **kw)
        if sample:
            part = [{**r, "seed": s} for r in part]
            by_seed[str(s)] = accuracy_by_type(part)
        rows.extend(part)
    write_jsonl(out, rows)
    res = {"n": len(items), "out": str(out), "decoding": dec["label"], "exact_match": accuracy_by_type(rows)}
    return {**res, "exact_match_by_seed": by_seed} if sample else res


SEGMENT_VOTES = ("first", "majority")


def majority_answers(answers: Sequence[str], owner: Sequence[int], n: int) -> list[str]:
    """One answer per item from the answers of its segments (``owner[i]``: the item of answer ``i``).

    The most common answer after :func:`~ecgbyte.eval.metrics.normalize_answer` wins; a tie goes
    to the one given first (the earliest segment); the answer is returned as first written.
    """
    from collections import Counter

    from ecgbyte.eval.metrics import normalize_answer

    groups: list[list[str]] = [[] for _ in range(n)]
    for a, o in zip(answers, owner):
        groups[o].append(a)
    out = []
    for g in groups:
        if not g:
            raise ConfigError("an item has no segment answers to vote over")
        counts = Counter(normalize_answer(a) for a in g)
        best = max(counts.values())
        out.append(next(a for a in g if counts[normalize_answer(a)] == best))
    return out


def evaluate_one(
    run: RunDir,
    items: Sequence[QAItem],
    *,
    ablations: Sequence[str] = ABLATIONS,
    batch_size: int = 32,
    seed: int = 0,
    noise_std_mv: float = 0.1,
    bertscore_model: str | Path | None = "auto",
    ablation_nlg: bool = True,
    n_resamples: int = 1000,
    primary: str = "accuracy",
    decode: str = "greedy",
    seeds: Sequence[int] | str | None = None,
    segments: Sequence[QAItem] | None = None,
) -> dict[str, Any]:
    """Baseline and ablated scores of one loaded run on ``items``; also the per-item rows.

    ``segments``: answer these instead (every segment of each item, ``meta["parent_item"]`` naming
    it) and score each item by the majority answer over its segments (:func:`majority_answers`).

    With one decoding pass (greedy, or sampling with one seed) and ``n_resamples > 0`` the result
    also holds ``"bootstrap"``: percentile intervals over the items' patients (seeded by ``seed``)
    of every score and paired intervals of every ablation drop. Sampling with several seeds
    holds ``"by_seed"`` (``[{"seed", "scores", "ablations"}]``) and, as ``scores`` /
    ``ablations``, each metric's mean over the seeds. ``ablation_nlg=False`` scores ablations
    with accuracy and token F1 only, plus the NLG metrics but BERTScore when ``primary`` is one
    of them (the flag needs its drop).
    """
    from ecgbyte.data.sequences import EncodedCache

    dec = decoding_spec(
        decode, seeds, num_beams=run.config.num_beams, max_new_tokens=run.config.max_new_tokens
    )
    sample = dec["method"] == "sample"
    gen_seeds: list[int | None] = list(dec["seeds"]) if sample else [None]
    cache = EncodedCache(run.ecg_tokenizer)
    refs = [it.answer for it in items]
    base_rows = [
        {
            "item_id": it.item_id,
            "question_type": it.question_type,
            "question": it.question,
            "reference": it.answer,
        }
        for it in items
    ]
    rows = {s: [{**r, "seed": s} if sample else dict(r) for r in base_rows] for s in gen_seeds}
    per_seed: dict[int | None, dict[str, Any]] = {s: {"ablations": {}} for s in gen_seeds}
    out: dict[str, Any] = {
        "run_dir": str(run.run_dir),
        "n": len(items),
        "n_patients": len({it.patient_id for it in items}),
        "decoding": dec,
        "wall_s": {},
    }
    stats: dict[str, Any] = {}
    points: dict[str, Any] = {}
    boot = n_resamples > 0 and bool(items) and len(gen_seeds) == 1
    asked = list(segments) if segments is not None else list(items)
    if segments is not None:
        index = {it.item_id: i for i, it in enumerate(items)}
        owner = [index[s.meta["parent_item"]] for s in asked]
    for kind in ("baseline", *ablations):
        t = time.perf_counter()
        exs = ablation_examples(run, asked, kind, seed=seed, noise_std_mv=noise_std_mv, cache=cache)
        every = kind == "baseline" or ablation_nlg
        full = every or primary not in FAST_METRICS
        bert = bertscore_model if every or primary == "bertscore_f1" else None
        for s in gen_seeds:
            preds = generate_sorted(run, exs, batch_size=batch_size, do_sample=sample, seed=s)
            if segments is not None:
                preds = majority_answers(preds, owner, len(items))
            res = compute_metrics_items(preds, refs, bertscore_model=bert, nlg=full)
            per_item = res.pop("per_item")
            if boot:
                stats[kind] = item_statistics(preds, refs, per_item)
                points[kind] = res["scores"]
            for r, p in zip(rows[s], preds):
                r[kind] = p
            if kind != "baseline":
                per_seed[s]["ablations"][kind] = res["scores"]
                continue
            per_seed[s]["scores"] = res["scores"]
            if s == gen_seeds[0]:
                out.update(labels=res["labels"], notes=res["notes"], warnings=res["warnings"])
        out["wall_s"][kind] = round(time.perf_counter() - t, 3)
    if sample:
        out["by_seed"] = [{"seed": s, **per_seed[s]} for s in gen_seeds]
        out.update(mean_over_seeds(out["by_seed"], ablations))
    else:
        out.update(scores=per_seed[None]["scores"], ablations=per_seed[None]["ablations"])
    if stats:
        t = time.perf_counter()
        base = stats.pop("baseline")
        groups = [it.patient_id for it in items]
        out["bootstrap"] = bootstrap_run(
            base, stats, points, n_items=len(items), groups=groups, n_resamples=n_resamples, seed=seed
        )
        out["wall_s"]["bootstrap"] = round(time.perf_counter() - t, 3)
    out["rows"] = [r for s in gen_seeds for r in rows[s]]
    out["mean_reference_words"] = sum(len(r.split()) for r in refs) / max(len(refs), 1)
    return out


def evaluate_run(
    run_dirs: RunDir | str | os.PathLike[str] | Sequence[RunDir | str | os.PathLike[str]],
    split: str = "test",
    *,
    items: Sequence[QAItem] | None = None,
    ablations: Sequence[str] = ABLATIONS,
    limit: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
    noise_std_mv: float = 0.1,
    bertscore_model: str | Path | None = "auto",
    ablation_nlg: bool = True,
    primary: str | None = None,
    flag_threshold: float = 2.0,
    n_resamples: int = 1000,
    decode: str = "greedy",
    seeds: Sequence[int] | str | None = None,
    segments: str = "first",
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate runs (one per seed or checkpoint) on ``split``; returns the summary dict.

    Parameters
    ----------
    run_dirs : one or several training run directories (paths or open :class:`RunDir` s).
    split : split name of the run's dataset spec (``train``/``valid``/``test``).
    items : evaluate these ``QAItem`` s instead of rebuilding the split.
    ablations : which of :data:`~ecgbyte.eval.ablations.ABLATIONS` to run (``()``: none).
    limit : only the first ``limit`` items (a quick look).
    batch_size : prompts per generation batch.
    seed, noise_std_mv : seeds the ablations and the bootstrap; noise level (mV).
    bertscore_model : see :func:`~ecgbyte.eval.metrics.compute_metrics`.
    ablation_nlg : also compute the NLG metrics for ablations (else accuracy, token F1 and the
        primary metric's family).
    primary : the metric whose drop decides ``ignores_ecg`` and the report's chart; ``None``:
        :func:`~ecgbyte.eval.summary.default_primary` of the first run's dataset (accuracy for
        short answers, ROUGE-L for free text).
    flag_threshold : without an interval, the minimum drop (points) of ``primary`` that counts as
        "the model uses the ECG".
    n_resamples : cluster-bootstrap resamples of the patients for one run decoded once (0: none).
    decode, seeds : ``"greedy"`` (default) or ``"sample"`` with its seeds (see :func:`decoding_spec`).
    segments : for a run trained on segments, how an item is scored once: ``"first"`` (on its
        first segment; default) or ``"majority"`` (the most common answer over its segments, ties
        to the earliest). Items are cut as the run was trained, also when given.
    out : JSON path to write; ``None`` writes nothing but the per-run rows. The Markdown tables
        are :func:`ecgbyte.report.to_markdown` (``ecgbyte evaluate`` writes them beside the JSON).

    Returns
    -------
    dict with ``runs`` (per-run scores; ``by_seed`` per sampling seed), ``metrics`` /
    ``ablations`` (intervals, as dicts), ``interval`` (``method`` "t", "bootstrap" or "none", and
    its ``label`` in words), ``decoding``, ``labels``, ``notes``, ``warnings``, ``primary`` and
    ``primary_reason``, ``ignores_ecg``, ``flag`` (one sentence: does the model use the ECG, and
    which ablation hurts most), ``flag_rule`` and ``wall_s``.
    """
    from ecgbyte.fileio import write_json, write_jsonl

    dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike, RunDir)) else list(run_dirs)
    if not dirs:
        raise ConfigError("evaluate_run needs at least one run directory")
    bad = [a for a in ablations if a not in ABLATIONS]
    if bad:
        raise ConfigError(f"unknown ablation(s) {bad}; choose from {', '.join(ABLATIONS)}")
    if n_resamples < 0:
        raise ConfigError(f"n_resamples must be >= 0 (0: no bootstrap), got {n_resamples}")
    check_decoding(batch_size)
    check_seed(seed)
    if limit is not None:
        check_int(limit, "limit", 1)
    if primary is not None and primary not in METRICS:
        raise ConfigError(f"unknown primary metric {primary!r}; choose one of {', '.join(METRICS)}")
    decoding_spec(decode, seeds, num_beams=1, max_new_tokens=1)  # argument errors before any work
    if segments not in SEGMENT_VOTES:
        raise ConfigError(f"segments {segments!r} is not one of {', '.join(SEGMENT_VOTES)}")
    t0 = time.perf_counter()
    per_run = []
    runs = [RunDir.open(d) for d in dirs]
    reason = "given"
    for run in runs:
        whole = list(items) if items is not None else run.items(split, segments=None)
        whole = whole[:limit] if limit is not None else whole
        its = run.segment(whole, "first")
        segs = run.segment(whole, "all") if segments == "majority" else None
        if primary is None:
            dataset = (run.data_spec or {}).get("name") if items is None else None
            primary, reason = default_primary(dataset, [it.answer for it in its])
        res = evaluate_one(
            run,
            its,
            ablations=ablations,
            batch_size=batch_size,
            seed=seed,
            noise_std_mv=noise_std_mv,
            bertscore_model=bertscore_model,
            ablation_nlg=ablation_nlg,
            n_resamples=n_resamples,
            primary=primary,
            decode=decode,
            seeds=seeds,
            segments=segs if segs is not None and len(segs) > len(its) else None,
        )
        write_jsonl(run.predictions_path(split), res.pop("rows"))
        per_run.append(res)
    assert primary is not None
    summary = summarize_evaluation(per_run, ablations, primary, flag_threshold)
    summary.update(
        split=split,
        run_dirs=[str(r.path) for r in runs],
        seed=seed,
        noise_std_mv=noise_std_mv,
        decoding=per_run[0]["decoding"],
        segments=segments,
        primary_reason=reason,
        wall_s=round(time.perf_counter() - t0, 3),
    )
    if out is not None:
        write_json(out, summary)
    return summary


def load_evaluation(path: str | Path) -> dict[str, Any]:
    """Read an ``evaluation_<split>.json`` written by :func:`evaluate_run`."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{p}: cannot read an evaluation JSON ({exc}); run `ecgbyte evaluate` again"
        ) from exc


__all__ = [
    "DECODES",
    "decoding_spec",
    "evaluate_one",
    "evaluate_run",
    "generate_split",
    "items_for_run",
    "load_evaluation",
    "parse_seeds",
]
