"""The compiled BPE trainer against the pure-Python spec, its validation, and the Merges type."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgbyte.bpe import Merges, reference, train
from ecgbyte.bpe import trainer as trainer_mod
from ecgbyte.errors import ConfigError, TokenizerError
from strategies import bpe_corpora

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "50"))


def run_corpus(rng: np.random.Generator, n_seqs: int, length: int, alphabet_size: int) -> list[np.ndarray]:
    """Sequences of runs: random symbols repeated 1..6 times, so runs and ties are frequent."""
    out = []
    for _ in range(n_seqs):
        symbols = rng.integers(0, alphabet_size, length)
        out.append(np.repeat(symbols, rng.integers(1, 7, length))[:length].astype(np.uint8))
    return out


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bpe_corpora())
def test_compiled_trainer_matches_reference(case):
    seqs, options = case
    fast = train([np.asarray(s, dtype=np.int64) for s in seqs], **options)
    spec = reference.train(seqs, **options)
    assert fast.pairs.tolist() == spec.pairs.tolist()
    assert fast.ids.tolist() == spec.ids.tolist()
    assert fast == spec


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bpe_corpora())
def test_window_recount_path_matches_reference(case):
    """The path taken when a merge reuses an existing string's id, forced on every merge."""
    seqs, options = case
    unique, weights = trainer_mod._dedupe(seqs, options["alphabet_size"])
    opts = [options[k] for k in ("n_merges", "min_frequency", "max_token_length", "alphabet_size")]
    pairs, ids = trainer_mod._train_arrays(unique, weights, *opts, progress=False, always_window=True)
    spec = reference.train(seqs, **options)
    assert pairs.tolist() == spec.pairs.tolist()
    assert ids.tolist() == spec.ids.tolist()


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bpe_corpora(), st.integers(2, 5), st.booleans())
def test_partitions_on_threads_give_the_reference_merges(case, threads, always_window):
    """The corpus cut into 2..5 partitions, every merge run one partition per thread (and, half
    the time, through the window recount path): the same merges as the spec."""
    seqs, options = case
    unique, weights = trainer_mod._dedupe(seqs, options["alphabet_size"])
    opts = [options[k] for k in ("n_merges", "min_frequency", "max_token_length", "alphabet_size")]
    pairs, ids = trainer_mod._train_arrays(
        unique, weights, *opts, progress=False, always_window=always_window, threads=threads,
        parallel_min_count=1,
    )  # fmt: skip
    spec = reference.train(seqs, **options)
    assert pairs.tolist() == spec.pairs.tolist()
    assert ids.tolist() == spec.ids.tolist()


def test_thread_count_does_not_change_the_merges():
    rng = np.random.default_rng(11)
    seqs = run_corpus(rng, 40, 300, 5)
    options = {"n_merges": 120, "min_frequency": 1, "alphabet_size": 5}
    one = train(seqs, threads=1, **options)
    assert one == reference.train(seqs, **options) and len(one) == 120
    unique, weights = trainer_mod._dedupe(seqs, 5)
    for threads in (2, 3, 8):
        assert train(seqs, threads=threads, **options) == one
        pairs, ids = trainer_mod._train_arrays(
            unique, weights, 120, 1, None, 5, progress=False, threads=threads, parallel_min_count=1
        )
        assert pairs.tolist() == one.pairs.tolist() and ids.tolist() == one.ids.tolist()
    with pytest.raises(ConfigError, match="threads"):
        train(seqs, threads=0, **options)


def test_partition_bounds_cut_at_sentinels_into_similar_sizes():
    starts = np.array([0, 11, 22, 33, 44, 55, 66, 77, 88, 99])  # ten sequences of 10 symbols
    bounds = trainer_mod._partition_bounds(starts, 111, 3)
    assert bounds == [(0, 44), (44, 77), (77, 110)]
    assert trainer_mod._partition_bounds(starts, 111, 1) == [(0, 110)]
    assert trainer_mod._partition_bounds(np.array([0]), 5, 4) == [(0, 4)]  # one sequence: one part


@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_on_larger_corpora_through_every_growth_path(seed, monkeypatch):
    """Enough distinct pairs, queue entries and long tokens to grow every kernel array."""
    calls = {"table": 0, "heap": 0, "vbuf": 0}
    for name, key in (("grow_table", "table"), ("rebuild_heap", "heap")):
        original = getattr(trainer_mod._State, name)

        def spy(self, *a, _orig=original, _key=key):
            calls[_key] += 1
            return _orig(self, *a)

        monkeypatch.setattr(trainer_mod._State, name, spy)
    original_grown = trainer_mod._grown

    def grown_spy(a, size):
        calls["vbuf"] += 1
        return original_grown(a, size)

    monkeypatch.setattr(trainer_mod, "_grown", grown_spy)
    rng = np.random.default_rng(seed)
    seqs = [*run_corpus(rng, 12, 150, 3), np.zeros(600, np.uint8)]
    seqs += seqs[:3]
    options = {"n_merges": 150, "min_frequency": 1, "alphabet_size": 3}
    fast = train(seqs, threads=1, **options)
    assert fast == reference.train(seqs, **options)
    assert len(fast) > 100
    assert all(v > 0 for v in calls.values()), calls
    calls.update(table=0, heap=0, vbuf=0)
    unique, weights = trainer_mod._dedupe(seqs, 3)
    pairs, ids = trainer_mod._train_arrays(
        unique, weights, 150, 1, None, 3, progress=False, threads=3, parallel_min_count=1
    )  # tables grow while partitions merge on threads
    assert pairs.tolist() == fast.pairs.tolist() and ids.tolist() == fast.ids.tolist()
    assert all(v > 0 for v in calls.values()), calls


@pytest.mark.parametrize("seed", range(2))
def test_long_runs_of_long_tokens_at_sequence_edges_match_reference(seed):
    """Runs of 1..40 equal symbols, sequences starting and ending inside runs, and sequences that
    are one run: the kernels step along runs of multi-symbol tokens by their length, up to the
    sentinels, and list a run once (at its start)."""
    rng = np.random.default_rng(100 + seed)
    seqs = []
    for _ in range(6):
        symbols = rng.integers(0, 3, 10)
        seqs.append(np.repeat(symbols, rng.integers(1, 41, 10)).astype(np.uint8))
    seqs += [np.full(n, rng.integers(0, 3), np.uint8) for n in (2, 3, 17, 64)]
    for options in (
        {"n_merges": 60, "min_frequency": 1, "alphabet_size": 3},
        {"n_merges": 40, "min_frequency": 2, "max_token_length": 6, "alphabet_size": 3},
    ):
        assert train(seqs, **options) == reference.train(seqs, **options)
    unique, weights = trainer_mod._dedupe(seqs, 3)
    opts = (40, 1, None, 3)
    pairs, ids = trainer_mod._train_arrays(unique, weights, *opts, progress=False, always_window=True)
    spec = reference.train(seqs, n_merges=40, min_frequency=1, alphabet_size=3)
    assert pairs.tolist() == spec.pairs.tolist() and ids.tolist() == spec.ids.tolist()


def test_occurrence_lists_hold_one_entry_per_run_and_per_other_pair():
    """After layout, a run of k >= 2 equal symbols is listed once under (x, x); every other
    adjacency once; the last symbol of a sequence and a run's inner symbols not at all."""
    from ecgbyte.bpe import _train_kernels as K

    seq = np.array([0, 0, 0, 0, 1, 0, 1, 1], np.uint8)  # runs aaaa, b, a, bb
    sym = np.array([K.SENT, *seq, K.SENT], np.int32)
    state = trainer_mod._State(sym, np.array([1]), np.array([1]), 2, 1)
    listed = {}
    assert state.tkey.shape[0] == 1  # one partition
    for i in np.flatnonzero(state.tkey[0] != K.EMPTY):
        key = int(state.tkey[0, i])
        c, members = int(state.thead[0, i]), []
        while c >= 0:  # chunks: next, fill, entries
            fill = int(state.pool[0, c * K.CHUNK + 1])
            members += [int(p) - 1 for p in state.pool[0, c * K.CHUNK + 2 : c * K.CHUNK + 2 + fill]]
            c = int(state.pool[0, c * K.CHUNK])
        listed[(key >> 32, key & 0xFFFFFFFF)] = (sorted(members), int(state.tcnt[0, i]))
    assert listed == {(0, 0): ([0], 2), (0, 1): ([3, 5], 2), (1, 0): ([4], 1), (1, 1): ([6], 1)}


@pytest.mark.parametrize("threads", [1, 3])
def test_a_small_occurrence_pool_rebuilds_and_drops_lists_yet_matches_reference(threads, monkeypatch):
    """With a pool of a few chunks, rebuilds list only the most frequent pairs, lists of new pairs
    are dropped when the pool runs out, and merges of unlisted pairs rebuild: same merges."""
    from ecgbyte.bpe import _train_state

    rebuilds = []
    original = _train_state._State._rebuild

    def spy(self, q, must):
        rebuilds.append(must)
        return original(self, q, must)

    monkeypatch.setattr(_train_state._State, "_rebuild", spy)
    rng = np.random.default_rng(11)
    seqs = [*run_corpus(rng, 20, 200, 4), np.zeros(300, np.uint8)]
    options = {"n_merges": 120, "min_frequency": 1, "alphabet_size": 4}
    spec = reference.train(seqs, **options)
    unique, weights = trainer_mod._dedupe(seqs, 4)
    pairs, ids = trainer_mod._train_arrays(
        unique, weights, 120, 1, None, 4, progress=False, threads=threads, parallel_min_count=1,
        pool_fraction=0.0, min_pool=120,
    )  # fmt: skip
    assert pairs.tolist() == spec.pairs.tolist() and ids.tolist() == spec.ids.tolist()
    assert sum(m is not None for m in rebuilds) >= 3  # merges that found their pair unlisted


def test_deduplication_gives_the_same_merges():
    rng = np.random.default_rng(7)
    base = run_corpus(rng, 6, 60, 4)
    corpus = [base[i] for i in rng.integers(0, 6, 30)]
    options = {"n_merges": 30, "alphabet_size": 4}
    assert train(corpus, **options) == reference.train(corpus, **options)
    unique, counts = trainer_mod._dedupe(corpus, 4)
    assert sum(counts) == 30 and len(unique) == len({s.tobytes() for s in corpus})


def test_sequence_order_and_dtype_do_not_matter():
    rng = np.random.default_rng(3)
    corpus = run_corpus(rng, 8, 80, 4)
    options = {"n_merges": 40, "alphabet_size": 4}
    first = train(corpus, **options)
    assert train(corpus[::-1], **options) == first
    assert train([s.astype(np.int32) for s in corpus], **options) == first
    assert train(np.stack(corpus), **options) == first  # a [leads, samples] array
    assert train(corpus, **options) == first  # deterministic across calls


def test_default_alphabet_and_codes_up_to_z():
    corpus = [np.array([25, 25, 0, 25, 25, 0], np.uint8)] * 2
    m = train(corpus, n_merges=3)
    assert m.alphabet_size == 26 and m.vocab()[:26] == list("abcdefghijklmnopqrstuvwxyz")
    # zz = 4 and za = 4 tie; (25, 0) < (25, 25) -> "za"; then z+za = 4 -> "zza"; then zza+zza
    assert m.vocab()[26:] == ["za", "zza", "zzazza"]


def test_empty_and_pairless_corpora_give_no_merges():
    for corpus in ([], [np.array([], np.uint8)], [np.array([3])], [[1], [1], [2]]):
        m = train(corpus, n_merges=10)
        assert m.pairs.shape == (0, 2) and m.ids.shape == (0,) and m.vocab_size == 26


def test_progress_bar_gives_the_same_result(capsys):
    corpus = run_corpus(np.random.default_rng(1), 4, 50, 3)
    assert train(corpus, n_merges=20, alphabet_size=3, progress=True) == train(
        corpus, n_merges=20, alphabet_size=3
    )
    assert "BPE merges" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("corpus", "match"),
    [
        ([np.array([0, 26])], "symbol code 26, outside 0..25"),
        ([np.array([0, 1]), np.array([-1, 0])], "sequence 1 holds symbol code -1"),
        ([np.zeros((2, 2), np.int64)], "1-D array"),
        ([np.array([0.0, 1.0])], "dtype float64"),
        ("abc", "iterable of 1-D integer arrays"),
        (None, "iterable of 1-D integer arrays"),
    ],
)
def test_bad_corpus_raises_tokenizer_error(corpus, match):
    with pytest.raises(TokenizerError, match=match):
        train(corpus, n_merges=3)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_merges": -1}, "n_merges must be an integer >= 0"),
        ({"n_merges": 2.5}, "n_merges"),
        ({"n_merges": True}, "n_merges"),
        ({"n_merges": 3, "min_frequency": 0}, "min_frequency must be an integer >= 1"),
        ({"n_merges": 3, "max_token_length": 0}, "max_token_length"),
        ({"n_merges": 3, "alphabet_size": 27}, "alphabet_size must be an integer in 1..26"),
        ({"n_merges": 3, "alphabet_size": 0}, "alphabet_size"),
    ],
)
def test_bad_options_raise(options, match):
    with pytest.raises((ConfigError, TokenizerError), match=match):
        train([np.array([0, 1, 0, 1])], **options)


# --- Merges -------------------------------------------------------------------------------------


def test_merges_vocab_lengths_and_json_round_trip():
    m = Merges(pairs=[[0, 0], [2, 0], [0, 1], [3, 1]], ids=[2, 3, 4, 5], alphabet_size=2)
    assert m.vocab() == ["a", "b", "aa", "aaa", "ab", "aaab"]
    assert m.token_lengths().tolist() == [1, 1, 2, 3, 2, 4]
    assert m.token_lengths().dtype == np.int32 and m.pairs.dtype == np.int32 and m.ids.dtype == np.int32
    assert (len(m), m.n_merges, m.vocab_size) == (4, 4, 6)
    data = json.loads(json.dumps(m.to_dict()))
    assert data["format_version"] == 1 and data["alphabet"] == "ab"
    assert Merges.from_dict(data) == m
    assert m.truncate(2) == Merges(pairs=[[0, 0], [2, 0]], ids=[2, 3], alphabet_size=2)
    assert "n_merges=4" in repr(m)


def test_merges_reuse_the_id_of_an_existing_string():
    """ "ab"+"c" -> "abc" = 5, then "a"+"bc" is "abc" again: it keeps id 5 (HF BpeTrainer rule)."""
    m = Merges(pairs=[[0, 1], [3, 2], [1, 2], [0, 5]], ids=[3, 4, 5, 4], alphabet_size=3)
    assert m.vocab() == ["a", "b", "c", "ab", "abc", "bc"]
    assert m.vocab_size == 6 and len(m) == 4


def test_merges_are_immutable():
    m = Merges(pairs=[[0, 1]], ids=[2], alphabet_size=2)
    with pytest.raises(ValueError):
        m.pairs[0, 0] = 1
    with pytest.raises(AttributeError):
        m.alphabet_size = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pairs", "ids", "match"),
    [
        ([[0, 1]], [3], "has id 3, expected 2"),
        ([[0, 1], [0, 1]], [2, 3], "has id 3, expected 2"),
        ([[0, 5]], [2], "uses an id not defined before it"),
        ([[0, 1, 2]], [2], r"pairs of shape \[n, 2\]"),
        ([[0, 1]], [2, 3], r"pairs of shape \[n, 2\]"),
        ([[0.5, 1]], [2], "must hold integers"),
        ([[-1, 1]], [2], "outside"),
    ],
)
def test_damaged_merges_raise(pairs, ids, match):
    with pytest.raises(TokenizerError, match=match):
        Merges(pairs=pairs, ids=ids, alphabet_size=2)


def test_merges_from_dict_rejects_newer_or_damaged_data():
    good = Merges(pairs=[[0, 1]], ids=[2], alphabet_size=2).to_dict()
    with pytest.raises(TokenizerError, match="newer than this ecgbyte"):
        Merges.from_dict({**good, "format_version": 99})
    with pytest.raises(TokenizerError, match="missing"):
        Merges.from_dict({"pairs": [[0, 1]]})
    with pytest.raises(TokenizerError, match="JSON object"):
        Merges.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TokenizerError, match="not integer lists"):
        Merges.from_dict({**good, "pairs": [["x", "y"]]})
    with pytest.raises(TokenizerError, match="distinct characters"):
        Merges(pairs=[], ids=[], alphabet_size=2, alphabet="aa")


def test_trainer_imports_without_torch():
    code = "import sys, ecgbyte.bpe.trainer, ecgbyte.bpe.reference; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_thread_pool_starts_with_passive_wait_and_leaves_the_environment_as_it_was():
    """The pool is launched with OMP_WAIT_POLICY=PASSIVE only while it starts (then unset again),
    and a policy the user set is left alone; training gives the same merges either way."""
    code = (
        "import os, numba\n"
        "from ecgbyte.bpe import trainer\n"
        "seqs = [[0, 0, 1, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1]]\n"
        "seen = []\n"
        "orig = numba.get_num_threads\n"
        "numba.get_num_threads = lambda: seen.append(os.environ.get('OMP_WAIT_POLICY')) or orig()\n"
        "m = trainer.train(seqs, n_merges=5, alphabet_size=2, threads=2)\n"
        "print(seen[0], os.environ.get('OMP_WAIT_POLICY'), m.pairs.tolist())\n"
    )
    runs = {}
    for policy in (None, "ACTIVE"):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        runs[policy] = out.stdout.split(" ", 2)
    assert runs[None][:2] == ["PASSIVE", "None"]
    assert runs["ACTIVE"][:2] == ["ACTIVE", "ACTIVE"]
    assert runs[None][2] == runs["ACTIVE"][2]
