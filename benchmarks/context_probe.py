"""Is the finding inside the context at all? A bag-of-tokens probe on each arm's prompt (issue 13).

``context_bench.py`` asks whether the tiny LLM *answers* better when the whole ECG fits the
context; on a CPU budget the LLM learns the whole-strip questions (rate, QRS width) but not yet the
late findings (one ectopic beat, AF that starts mid-strip), in any arm. This script asks the
question underneath, independent of how far the LLM has trained: **do the ECG tokens that reach
the model carry the answer?** For each arm it takes exactly the ECG tokens one prompt holds (the
arm's tokenizer, the same encoding cache and context cut as training: ``EncodedCache`` then
:func:`context_bench.prompt_ids`, ``TruncationPolicy`` and the per-lead water-fill to ``1024 - 40``
tokens; 2 s segments encoded one by one), turns them into a bag of tokens (``log1p`` of each token id's count), and fits one
L2-regularised multinomial logistic regression per question type on the training items, then
scores the test items (segments: the majority answer over an item's five segments, as
``ecgbyte evaluate --segments majority`` scores the LLM). The same data, split, tokenizer seeds and
analysis (:func:`context_bench.analyse`: accuracy per group with a two-level bootstrap over test
patients and seeds, paired differences, the issue's verdict) as the LLM benchmark.

A bag of tokens ignores order, so it is a lower bound on what the tokens hold, and it is not the
LLM: read it as "the evidence is (or is not) in the context, readable by a simple reader".

Usage::

    .venv/bin/python benchmarks/context_probe.py            # 480 ECGs, seeds 0 1 2 (~10 min, 2 cores)
    .venv/bin/python benchmarks/context_probe.py --quick    # 60 ECGs, one seed

Writes ``benchmarks/results/context_probe.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import context_bench as cb  # noqa: E402


def visible_ids(cache: Any, ecg: Any) -> np.ndarray:
    """The ECG token ids one prompt holds for ``ecg`` (an ``Ecg`` or an ``EcgSegment``)."""
    kept = cb.prompt_ids(cache.get(ecg))
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


def bag_of_tokens(ids: Sequence[np.ndarray], vocab: int) -> np.ndarray:
    """``float32 [n, vocab]``: ``log1p`` of each token id's count per sequence."""
    out = np.zeros((len(ids), vocab), np.float32)
    for i, x in enumerate(ids):
        np.add.at(out[i], np.asarray(x, np.int64), 1.0)
    return np.log1p(out)


def fit_predict(
    x_train: np.ndarray, y_train: Sequence[str], x_test: np.ndarray, *, l2: float = 1e-2
) -> list[str]:
    """Multinomial logistic regression (standardised features, L2 ``l2`` on the weights, full-batch
    L-BFGS, deterministic) fitted on ``x_train``; the predicted label of each ``x_test`` row."""
    import torch

    classes = sorted(set(y_train))
    if len(classes) == 1:
        return [classes[0]] * len(x_test)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.from_numpy((x_train - mu) / sd)
    y = torch.tensor([classes.index(v) for v in y_train])
    w = torch.zeros(xt.shape[1], len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (torch.from_numpy((x_test - mu) / sd) @ w + b).argmax(1).tolist()
    return [classes[i] for i in pred]


def probe_arm(arm: str, tok: Any, splits: Mapping[str, list]) -> np.ndarray:
    """``bool [n_test]``: the probe's correctness on each test item (test order) for ``arm``."""
    from ecgbyte.data.items import segment_items
    from ecgbyte.data.sequences import EncodedCache
    from ecgbyte.eval.metrics import exact_match

    seconds = cb.ARMS[arm]["segment_seconds"]
    cache = EncodedCache(tok)
    vocab = int(tok.vocab_size)
    test = splits["test"]
    train = segment_items(splits["train"], seconds, record_seconds=cb.RECORD_SECONDS, mode="all")
    test_rows = segment_items(test, seconds, record_seconds=cb.RECORD_SECONDS, mode="all")
    x_train = bag_of_tokens([visible_ids(cache, it.ecgs[0]) for it in train], vocab)
    x_test = bag_of_tokens([visible_ids(cache, it.ecgs[0]) for it in test_rows], vocab)
    pred = [""] * len(test_rows)
    for qt in dict.fromkeys(it.meta["question_type"] for it in test):
        tr = [i for i, it in enumerate(train) if it.meta["question_type"] == qt]
        te = [i for i, it in enumerate(test_rows) if it.meta["question_type"] == qt]
        out = fit_predict(x_train[tr], [train[i].answer for i in tr], x_test[te])
        for i, p in zip(te, out):
            pred[i] = p
    if seconds:
        rows = [{"item_id": it.item_id, "prediction": p} for it, p in zip(test_rows, pred)]
        answers = cb.majority_by_parent(rows, [it.item_id for it in test])
    else:
        answers = {it.item_id: p for it, p in zip(test_rows, pred)}
    return np.array([exact_match(answers[it.item_id], it.answer) for it in test])


def markdown(report: Mapping[str, Any]) -> str:
    a = report["analysis"]
    lines = [
        f"## Is the finding in the context? Bag-of-tokens probe ({report['n_ecgs']} ECGs, {cb.CONTEXT}-token context)",
        "",
        f"**{a['verdict']['statement']}**",
        "",
        f"Accuracy (%) of a logistic regression on the ECG tokens each prompt holds, {report['n_test_items']} test "
        f"questions ({report['n_test_patients']} patients), mean over tokenizer seeds {report['seeds']} with a 95% "
        "bootstrap interval (patients and seeds); `late` = evidence past the first 3 s.",
        "",
        *cb.accuracy_tables(a),
    ]
    lines += [
        "",
        f"Command: `{report['command']}`; {report['machine']}; {report['total_s'] / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 ECGs, seed 0")
    ap.add_argument("--n-ecgs", type=int, default=None, help="synthetic ECGs (default 480, the LLM bench's)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="tokenizer seeds (default 0 1 2)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    import torch
    from tqdm import tqdm

    from ecgbyte.data.items import unique_ecgs
    from ecgbyte.fileio import atomic_write_text, write_json
    from ecgbyte.preset_tokenizer import train_preset

    torch.set_num_threads(1)
    n_ecgs = args.n_ecgs or (60 if args.quick else cb.PLANS["default"]["n_ecgs"])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    t0 = time.perf_counter()
    splits = cb.make_data(n_ecgs)
    test = splits["test"]
    correct: dict[str, list] = {arm: [] for arm in cb.ARMS}
    for seed in tqdm(seeds, desc="context_probe", unit="seed"):
        toks = {p: train_preset(unique_ecgs(splits["train"]), p, seed=seed) for p in ("paper", "compact")}
        for arm, spec in cb.ARMS.items():
            correct[arm].append(probe_arm(arm, toks[spec["preset"]], splits))
    arrays = {a: np.array(c, dtype=bool) for a, c in correct.items()}
    analysis = cb.analyse(arrays, [it.patient_id for it in test], cb.groups_of(test))
    report = {
        "n_ecgs": n_ecgs,
        "seeds": seeds,
        "context": cb.CONTEXT,
        "n_test_items": len(test),
        "n_test_patients": len({it.patient_id for it in test}),
        "correct": {a: c.astype(int).tolist() for a, c in arrays.items()},
        "test_items": cb.item_rows(test),
        "analysis": analysis,
        "command": "python benchmarks/context_probe.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {platform.system()}",
        "total_s": time.perf_counter() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "context_probe.json", report)
    text = markdown(report)
    atomic_write_text(args.out / "context_probe.md", text)
    cb.plot(
        report,
        args.out / "context_probe.png",
        title="Bag-of-tokens probe on each prompt: late = evidence past 3 s",
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
