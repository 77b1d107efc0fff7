"""The trainer's corpus layout type (int16 while ids and token lengths fit, else int32): the same
merges either way, and the switch exactly at the boundary."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgbyte.bpe import reference, train
from ecgbyte.bpe import trainer as trainer_mod
from strategies import bpe_corpora

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "50"))


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bpe_corpora(
        max_alphabet=5, max_length=60, max_run=9, max_runs=14, max_seqs=7, max_merges=50, max_token_length=12
    ),
    st.sampled_from([np.int16, np.int32]),
    st.integers(1, 3),
    st.booleans(),
)
def test_both_layout_types_give_the_reference_merges(case, dtype, threads, always_window):
    seqs, options = case
    unique, weights = trainer_mod._dedupe(seqs, options["alphabet_size"])
    opts = [options[k] for k in ("n_merges", "min_frequency", "max_token_length", "alphabet_size")]
    pairs, ids = trainer_mod._train_arrays(
        unique, weights, *opts, progress=False, always_window=always_window, threads=threads,
        parallel_min_count=1, sym_dtype=dtype,
    )  # fmt: skip
    spec = reference.train(seqs, **options)
    assert pairs.tolist() == spec.pairs.tolist()
    assert ids.tolist() == spec.ids.tolist()


def test_layout_type_switches_exactly_where_int16_stops_fitting():
    pick = trainer_mod._sym_dtype
    assert pick(32_768, 100, None) is np.int16  # ids 0..32767
    assert pick(32_769, 100, None) is np.int32  # id 32768 does not fit
    assert pick(1_000, 32_767, None) is np.int16  # tail code -(32767 + 1) fits
    assert pick(1_000, 32_768, None) is np.int32  # a token of 32768 symbols would not
    assert pick(1_000, 10**6, 32_767) is np.int16  # max_token_length bounds the tokens instead
    assert pick(1_000, 10**6, 32_768) is np.int32


def test_a_token_as_long_as_int16_allows_matches_the_reference():
    """One run of 32767 equal symbols: merged down to tokens of up to 16384 symbols, with tail codes
    near the bottom of int16, laid out as int16 (and 32768 symbols switch to int32: same merges)."""
    options = {"n_merges": 40, "min_frequency": 1, "alphabet_size": 2}
    for n in (32_767, 32_768):
        seqs = [np.zeros(n, np.uint8), np.array([1, 0, 0, 1], np.uint8)]
        assert trainer_mod._sym_dtype(2 + 40, n, None) is (np.int16 if n == 32_767 else np.int32)
        fast = train(seqs, **options)
        assert fast == reference.train([s.tolist() for s in seqs], **options)
        assert max(len(t) for t in fast.vocab()) >= 16_384


@pytest.mark.slow
def test_ids_up_to_the_int16_limit_and_beyond_give_the_same_merges():
    """Enough merges to use id 32767 (the last int16 one, laid out as int16), and one more (int32):
    the longer run's first merges are the shorter run's merges, and both are the same for int32."""
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 26, 4000).astype(np.uint8) for _ in range(40)]  # 160k symbols
    n = 32_768 - 26  # ids 26 .. 32767
    at_limit = train(seqs, n_merges=n, min_frequency=1)
    beyond = train(seqs, n_merges=n + 1, min_frequency=1)
    assert len(at_limit) == n and len(beyond) == n + 1
    assert int(at_limit.ids.max()) == 32_767
    assert beyond.pairs[:n].tolist() == at_limit.pairs.tolist()
    assert beyond.ids[:n].tolist() == at_limit.ids.tolist()
    unique, weights = trainer_mod._dedupe(seqs, 26)
    pairs, ids = trainer_mod._train_arrays(
        unique, weights, n, 1, None, 26, progress=False, sym_dtype=np.int32
    )
    assert pairs.tolist() == at_limit.pairs.tolist() and ids.tolist() == at_limit.ids.tolist()
