"""One run of the claim benchmark (issue 14): data, stage 1, the LLM with its learning curve, test scores.

Both systems read the same ECGs: the same leads, seconds and rate (``Setup``). Rows follow the
format of :mod:`ecgbyte.eval.claim`. Costs are counted in three units, stage 1 included:

- wall seconds (evaluation excluded; data preparation counted once);
- optimizer steps (stage 1: the encoder's pretraining steps; the BPE tokenizer has none);
- processed tokens: LLM tokens under the attention mask, plus for stage 1 the signal samples it
  read (all leads; the encoder reads them once per epoch, BPE training once).
"""

from __future__ import annotations

import collections
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgbyte.data.items import unique_ecgs

ALL_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
NLG = ("bleu4", "rougeL", "meteor")


@dataclasses.dataclass(frozen=True)
class Setup:
    """What both systems share (input) and what differs (stage 1, ECG input of the LLM)."""

    leads: tuple[str, ...] = ALL_LEADS
    fs: float = 50.0
    seconds: float = 10.0
    representation: str = "bpe"  # end to end: "bpe" (ECGByteTokenizer, n_merges) or "compact"
    n_merges: int = 1000
    soft_tokens: int = 8
    projector: str = "linear"  # two-stage: "linear" (the paper) or "mlp"
    enc_epochs: float = 30.0
    # two-stage: stage 1 reads a separate corpus of this many ECG-report pairs (other patients), as
    # MERL-style encoders are pretrained on a large corpus before the LLM's task; 0: the LLM's
    # training ECGs and their reports
    pretrain_ecgs: int = 0
    enc_time_tokens: int = (
        1  # two-stage: time windows of the contrastive ECG embedding (1: the mean; 0: soft_tokens)
    )
    model: str = "tiny"  # the LLM: "tiny" (random, full fine-tuning) or a local folder (LoRA)
    max_length: int = 2048
    report_max_new_tokens: int = 128


# ---------------------------------------------------------------------------- data
def majority_share(items: list) -> dict[str, float]:
    """Per question type: the share (%) of its most frequent answer (what ignoring the ECG scores)."""
    by: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for it in items:
        by[it.meta["question_type"]][it.answer] += 1
    return {t: 100 * max(c.values()) / sum(c.values()) for t, c in sorted(by.items())}


def load_data(n_ecgs: int, setup: Setup, seed: int = 0) -> dict[str, Any]:
    """Synthetic QA (every question type) + the report task, split by patient; the shared preprocessing.

    ``texts`` maps each training ECG's record id to its report: stage 1's contrastive texts.
    ``corpus`` / ``corpus_texts`` (``setup.pretrain_ecgs`` > 0): the two-stage system's stage-1 corpus,
    synthesized with seed ``seed + 1000`` (other records and patients) and reported like the rest.
    """
    from ecgbyte.data.splits import split_by_patient
    from ecgbyte.data.synthetic_qa import (
        ALL_TYPES,
        build_synthetic_qa,
        preprocess_config_for,
        synth_config_for,
    )
    from ecgbyte.data.synthetic_report import build_synthetic_reports
    from ecgbyte.signal import preprocess
    from ecgbyte.signal.synth import synthesize

    if setup.representation == "compact":  # both systems read the compact preset's signal
        from ecgbyte.presets import PRESETS

        pre = PRESETS["compact"].preprocess
    else:
        pre = preprocess_config_for(setup.fs)
    raw = synthesize(n_ecgs, seed=seed, fs=500.0, duration_s=10.0, config=synth_config_for(morphology=True))
    ecgs = [preprocess(e.select_leads(setup.leads), pre) for e in raw]
    items = build_synthetic_qa(ecgs, seed=seed, question_types=ALL_TYPES)
    splits = split_by_patient(items, fractions=(0.8, 0.0, 0.2), seed=seed)
    train_report = build_synthetic_reports(unique_ecgs(splits["train"]), seed=seed)
    corpus: list = []
    if setup.pretrain_ecgs:
        c_seed = seed + 1000
        c_raw = synthesize(
            setup.pretrain_ecgs,
            seed=c_seed,
            fs=500.0,
            duration_s=10.0,
            config=synth_config_for(morphology=True),
        )
        corpus = [preprocess(e.select_leads(setup.leads), pre) for e in c_raw]
    return {
        "train_qa": splits["train"],
        "test_qa": splits["test"],
        "train_report": train_report,
        "test_report": build_synthetic_reports(unique_ecgs(splits["test"]), seed=seed + 1),
        "texts": {it.ecgs[0].record_id: it.answer for it in train_report},
        "corpus": corpus,
        "corpus_texts": [it.answer for it in build_synthetic_reports(corpus, seed=seed + 1000)],
        "preprocess": pre,
        "question_types": list(ALL_TYPES),
    }


# ---------------------------------------------------------------------------- stage 1
_WARM: set[str] = set()


def _warm_up(ecgs: list, setup: Setup, pre: Any) -> None:
    """Compile the BPE kernels once per process (numba's first call in a fresh checkout takes about
    90 s), so no run's stage-1 wall time holds the compilation."""
    if "bpe" in _WARM or setup.representation != "bpe":
        return
    from ecgbyte.tokenizer import ECGByteTokenizer

    tok = ECGByteTokenizer.train(ecgs[:2], leads=setup.leads, preprocess=pre, seed=0, n_merges=4)
    tok.encode(ecgs[0])
    _WARM.add("bpe")


def stage1(
    system: str, ecgs: list, setup: Setup, pre: Any, seed: int, texts: list[str], max_steps: int | None = None
) -> tuple[Any, dict[str, float]]:
    """The ECG tokenizer (end to end) or the contrastively pretrained encoder (two-stage; ``texts``: one
    report per ECG; ``max_steps``: stop its pretraining early) and its cost."""
    if system == "end_to_end":
        _warm_up(ecgs, setup, pre)
    t = time.perf_counter()
    samples = len(ecgs) * len(setup.leads) * round(setup.seconds * setup.fs)
    if system == "end_to_end":
        from ecgbyte.tokenizer import ECGByteTokenizer

        if setup.representation == "compact":
            from ecgbyte.preset_tokenizer import train_preset

            tok = train_preset(ecgs, "compact", seed=seed)
        else:
            tok = ECGByteTokenizer.train(
                ecgs, leads=setup.leads, preprocess=pre, seed=seed, n_merges=setup.n_merges
            )
        return tok, {"wall_s": time.perf_counter() - t, "steps": 0, "tokens": samples}
    from ecgbyte.elm.two_stage import pretrain_stage1

    tok = pretrain_stage1(
        ecgs,
        fs=setup.fs,
        leads=setup.leads,
        k=setup.soft_tokens,
        preprocess=pre,
        texts=texts,
        objective="contrastive",
        epochs=setup.enc_epochs,
        duration_s=setup.seconds,
        seed=seed,
        time_tokens=setup.enc_time_tokens or setup.soft_tokens,
        max_steps=max_steps,
    )
    steps = int(tok.info["steps"])
    return tok, {"wall_s": time.perf_counter() - t, "steps": steps, "tokens": samples * setup.enc_epochs}


def train_config(system: str, setup: Setup, seed: int, epochs: float, **over: Any) -> Any:
    from ecgbyte.elm.config import TrainConfig

    base: dict[str, Any] = dict(
        epochs=epochs, seed=seed, log_every=0, keep_leads=setup.leads, max_seconds=setup.seconds,
        max_length=setup.max_length, max_new_tokens=setup.report_max_new_tokens,
    )  # fmt: skip
    if system == "two_stage":
        base.update(ecg_input="encoder", soft_tokens=setup.soft_tokens, projector=setup.projector)
    if setup.model != "tiny":  # a pretrained LLM: LoRA, as in the paper
        base.update(model=setup.model, finetune="lora", lr=3e-4)
    return TrainConfig.preset("baby", **{**base, **over})


_CORPUS_STAGE1: dict[tuple, tuple[Any, dict[str, float]]] = {}


def stage1_for(
    system: str, data: dict[str, Any], ecgs: list, setup: Setup, seed: int
) -> tuple[Any, dict, int]:
    """Stage 1 of one run: (tokenizer or encoder, its cost, the number of ECGs it read).

    A two-stage encoder pretrained on the separate corpus does not depend on the data fraction: it
    is trained once per seed in this process and reused (each run is charged its full cost)."""
    corpus = data.get("corpus") or []
    if system == "two_stage" and corpus:
        key = (seed, setup, id(corpus))
        if key not in _CORPUS_STAGE1:
            _CORPUS_STAGE1[key] = stage1(
                system, corpus, setup, data["preprocess"], seed, data["corpus_texts"]
            )
        return (*_CORPUS_STAGE1[key], len(corpus))
    texts = [data["texts"][e.record_id] for e in ecgs] if system == "two_stage" else []
    return (*stage1(system, ecgs, setup, data["preprocess"], seed, texts), len(ecgs))


def parameter_counts(data: dict[str, Any], setup: Setup, epochs: float) -> dict[str, dict[str, int]]:
    """Per system: the LLM's parameters as trained (``total``, ``trained``: a two-stage projector
    included) and the frozen stage-1 encoder's (0 for the tokenizer); seed 0, 100% of the data. The
    encoder's count does not depend on its training, so it is built with one pretraining step."""
    import tempfile

    from ecgbyte.elm.train import prepare_run

    items = [*data["train_qa"], *data["train_report"]]
    ecgs = unique_ecgs(items)
    out = {}
    for system in ("end_to_end", "two_stage"):
        if system == "two_stage":
            texts = [data["texts"][e.record_id] for e in ecgs[:2]]
            tok, _ = stage1(system, ecgs[:2], setup, data["preprocess"], 0, texts, max_steps=1)
        else:
            tok, _, _ = stage1_for(system, data, ecgs, setup, 0)
        with tempfile.TemporaryDirectory(prefix="claim_params_") as d:
            model, _, _ = prepare_run(train_config(system, setup, 0, epochs), items, tok, Path(d))
        out[system] = {
            "total": sum(p.numel() for p in model.parameters()),
            "trained": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "stage1_encoder": int(tok.info.get("n_parameters", 0)) if system == "two_stage" else 0,
        }
    return out


# ---------------------------------------------------------------------------- one run
def _accuracy(rows: list[dict]) -> dict[str, float]:
    from ecgbyte.eval.metrics import accuracy_by_type

    return {k: 100 * v for k, v in accuracy_by_type(rows).items()}


def run(
    system: str,
    data: dict[str, Any],
    *,
    fraction: float,
    seed: int,
    setup: Setup,
    epochs: float,
    points: int,
    min_steps: int,
    work: Path,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Stage 1, then the LLM in ``points`` segments (QA accuracy on the full test set after each), then
    the report task's NLG metrics; one row for :func:`ecgbyte.eval.claim.analyse`."""
    from ecgbyte.data.splits import split_by_patient
    from ecgbyte.elm.generate import predict
    from ecgbyte.elm.run import load_run
    from ecgbyte.elm.train import total_steps_of, train
    from ecgbyte.eval.metrics import compute_metrics

    train_items = [*data["train_qa"], *data["train_report"]]
    if fraction < 1.0:  # a patient-level subset, the same for every seed
        train_items = split_by_patient(train_items, fractions=(fraction, 0.0, 1 - fraction), seed=0)["train"]
    ecgs = unique_ecgs(train_items)
    tok, s1, n_stage1 = stage1_for(system, data, ecgs, setup, seed)
    cfg = train_config(system, setup, seed, epochs)
    n_total = total_steps_of(cfg, len(train_items))
    if n_total < min_steps:
        cfg = dataclasses.replace(cfg, max_steps=min_steps)
        n_total = min_steps
    run_dir, cache = work / f"{system}-{fraction}-{seed}", work / f"cache-{system}-{fraction}-{seed}"
    stops = sorted({max(1, round(n_total * (i + 1) / points)) for i in range(points)})
    curve, wall, tokens, step0 = [], 0.0, 0, 0
    test_qa = data["test_qa"]
    for i, stop in enumerate(stops):
        t = time.perf_counter()
        out = train(
            cfg, train_items, ecg_tokenizer=tok, run_dir=run_dir, resume=i > 0, stop_after=stop,
            progress=False, cache_dir=cache,
        )  # fmt: skip
        total = time.perf_counter() - t
        wall += out["train_s"] + (total - out["train_s"] if i == 0 else 0.0)  # data prep once, not per resume
        tokens += int(out["tokens"])
        step0 = stop
        rows = predict(
            load_run(run_dir, ecg_tokenizer=tok), test_qa, batch_size=batch_size, max_new_tokens=12
        )
        acc = _accuracy(rows)
        curve.append({"step": stop, "wall_s": wall, "tokens": tokens, "accuracy": acc["all"]})
    reports = predict(
        load_run(run_dir, ecg_tokenizer=tok), data["test_report"], batch_size=batch_size,
        max_new_tokens=setup.report_max_new_tokens,
    )  # fmt: skip
    scores = compute_metrics(
        [r["prediction"] for r in reports], [r["reference"] for r in reports], bertscore_model=None
    )["scores"]
    per_ecg = [tok.encode(e).ids.size for e in unique_ecgs(test_qa)[:20]]
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return {
        "system": system,
        "fraction": fraction,
        "seed": seed,
        "n_train_items": len(train_items),
        "n_train_ecgs": len(ecgs),
        "n_stage1_ecgs": n_stage1,
        # distinct ECGs the system learnt from: the LLM's, plus a separate stage-1 corpus
        "n_ecgs": len(ecgs) + (n_stage1 if system == "two_stage" and data.get("corpus") else 0),
        "stage1": s1,
        "curve": curve,
        "final": {
            "accuracy": curve[-1]["accuracy"],
            "per_type": {k: v for k, v in acc.items() if k != "all"},
            "nlg": {k: scores.get(k) for k in NLG},
            "report_example": {"prediction": reports[0]["prediction"], "reference": reports[0]["reference"]},
        },
        "steps": step0,
        "tokens_per_ecg": float(np.mean(per_ecg)),
    }
