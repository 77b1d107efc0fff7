"""The pure parts of benchmarks/context_probe.py: what one prompt holds, the bag of tokens, the probe."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import context_probe as cp
from ecgbyte.ecg_tokenizer import EncodedEcg


class _Cache:
    def __init__(self, enc: EncodedEcg) -> None:
        self.enc = enc

    def get(self, ecg):
        return self.enc


def _enc(lengths):
    ids = np.concatenate([np.full(n, i, np.int64) for i, n in enumerate(lengths)])
    return EncodedEcg(
        ids,
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        tuple(f"L{i}" for i in range(len(lengths))),
    )


def test_visible_ids_are_what_fits_the_context():
    # 3 leads of 200 tokens: all 600 fit the 984-token budget
    assert cp.visible_ids(_Cache(_enc([200, 200, 200])), None).size == 600
    # 12 leads of 250 (3,000 tokens): the water-fill keeps the first 82 of each lead (984 // 12)
    kept = cp.visible_ids(_Cache(_enc([250] * 12)), None)
    assert kept.size == 12 * 82 and cp.cb.PROMPT_BUDGET == 984
    assert np.array_equal(np.bincount(kept), np.full(12, 82))
    # a short lead keeps all its tokens; the others share the rest
    kept = cp.visible_ids(_Cache(_enc([10, 2000, 2000])), None)
    assert np.bincount(kept).tolist() == [10, 487, 487]


def test_bag_of_tokens_counts_each_id():
    x = cp.bag_of_tokens([np.array([0, 0, 3]), np.array([], np.int64), np.array([2])], vocab=4)
    assert x.shape == (3, 4) and x.dtype == np.float32
    assert np.allclose(x, np.log1p([[2, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]]))


def test_probe_reads_a_token_that_marks_the_answer_and_is_deterministic():
    rng = np.random.default_rng(0)

    def data(n):
        y = rng.integers(0, 3, n)
        ids = [np.concatenate([rng.integers(3, 50, 40), np.full(2, c)]) for c in y]  # token c marks class c
        return cp.bag_of_tokens(ids, 50), [("a", "b", "c")[c] for c in y]

    (xtr, ytr), (xte, yte) = data(120), data(60)
    pred = cp.fit_predict(xtr, ytr, xte)
    assert pred == yte and cp.fit_predict(xtr, ytr, xte) == pred
    # noise only: no better than chance by much
    shuffled = list(rng.permutation(ytr))
    assert np.mean(np.array(cp.fit_predict(xtr, shuffled, xte)) == np.array(yte)) < 0.6
    # a single class in training: that class
    assert cp.fit_predict(xtr, ["a"] * len(ytr), xte[:3]) == ["a", "a", "a"]
