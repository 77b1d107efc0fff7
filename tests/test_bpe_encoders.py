"""Encoders: compiled ``encode_bpe``/``encode_greedy`` against their pure-Python twins.

Hand-checked spec examples (one per rule), hypothesis properties on random merges (runs,
repeated merge results, sequence boundaries) and the batch/decode API.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgbyte.bpe.encoders import (
    EncodedBatch,
    decode_ids,
    encode_bpe,
    encode_bpe_batch,
    encode_bpe_reference,
    encode_greedy,
    encode_greedy_batch,
    encode_greedy_reference,
    encoder_tables,
)
from ecgbyte.bpe.merges import Merges
from ecgbyte.errors import TokenizerError
from strategies import random_merges

MAX_EXAMPLES = int(os.environ.get("ECGBYTE_MAX_EXAMPLES", "150"))

BPE_ENCODERS = [
    pytest.param(encode_bpe, id="bpe"),
    pytest.param(encode_bpe_reference, id="bpe_reference"),
]
GREEDY_ENCODERS = [
    pytest.param(encode_greedy, id="greedy"),
    pytest.param(encode_greedy_reference, id="greedy_reference"),
]
ENCODERS = BPE_ENCODERS + GREEDY_ENCODERS


def make_merges(*pairs: str, alphabet_size: int = 26) -> Merges:
    """Merges from strings like ``"a+b"``, ``"ab+c"`` (ids follow the HF id rule)."""
    vocab = [chr(97 + i) for i in range(alphabet_size)]
    index = {s: i for i, s in enumerate(vocab)}
    rows, ids = [], []
    for p in pairs:
        left, right = p.split("+")
        rows.append((index[left], index[right]))
        tok = left + right
        if tok not in index:
            index[tok] = len(vocab)
            vocab.append(tok)
        ids.append(index[tok])
    return Merges(np.array(rows, dtype=np.int64).reshape(-1, 2), np.array(ids), alphabet_size)


def codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - 97


def strings(ids, merges: Merges) -> list[str]:
    vocab = merges.vocab()
    return [vocab[i] for i in np.asarray(ids).tolist()]


@st.composite
def merges_and_codes(draw):
    m = draw(random_merges())
    seq = draw(st.lists(st.integers(0, m.alphabet_size - 1), max_size=80))
    return m, np.array(seq, dtype=np.uint8)


@st.composite
def merges_and_runs(draw):
    """Few symbols, many merges (so many reused results) and sequences made of long runs."""
    m = draw(random_merges(max_alphabet=3, max_merges=40))
    runs = draw(st.lists(st.tuples(st.integers(0, m.alphabet_size - 1), st.integers(1, 40)), max_size=8))
    seq = [c for c, k in runs for _ in range(k)]
    return m, np.array(seq, dtype=np.uint8)


# ---------------------------------------------------------------------------- spec by hand


@pytest.mark.parametrize("encode", ENCODERS)
def test_run_of_three_merges_leftmost_pair(encode):
    """'aaa' with a+a: the leftmost pair merges, leaving [aa, a]; 'aaaa' gives [aa, aa]."""
    m = make_merges("a+a")
    assert list(encode(codes("aaa"), m)) == [26, 0]
    assert list(encode(codes("aaaa"), m)) == [26, 26]
    assert list(encode(codes("aaaaa"), m)) == [26, 26, 0]


@pytest.mark.parametrize("encode", BPE_ENCODERS)
def test_bpe_follows_rank_not_length(encode):
    """b+c (rank 0) before a+b (rank 1): 'abc' -> a|bc, although 'ab' starts further left."""
    m = make_merges("b+c", "a+b")
    assert strings(encode(codes("abc"), m), m) == ["a", "bc"]
    assert strings(encode(codes("abcab"), m), m) == ["a", "bc", "ab"]


@pytest.mark.parametrize("encode", GREEDY_ENCODERS)
def test_greedy_takes_longest_match_from_the_left(encode):
    """Same merges, greedy: at 'a' the longest token is 'ab', then 'c' -> ab|c."""
    m = make_merges("b+c", "a+b")
    assert strings(encode(codes("abc"), m), m) == ["ab", "c"]


@pytest.mark.parametrize("encode", GREEDY_ENCODERS)
def test_greedy_falls_back_to_last_token_on_the_trie_walk(encode):
    """Tokens ab, cd, abcd. On 'abce' the walk passes 'abc' (no token) and fails at 'e':
    the original emits the last token seen ('ab') and restarts at 'c'."""
    m = make_merges("a+b", "c+d", "ab+cd")
    assert strings(encode(codes("abce"), m), m) == ["ab", "c", "e"]
    assert strings(encode(codes("abcdab"), m), m) == ["abcd", "ab"]


@pytest.mark.parametrize("encode", BPE_ENCODERS)
def test_bpe_repeated_result_lowers_rank(encode):
    """Two merges build 'abc': ab+c (rank 2) and a+bc (rank 4); abc+d has rank 3.

    'abcdabcd': b+c (rank 0) gives a|bc|d|a|bc|d; a+bc (rank 4) merges at 0 to 'abc', which
    makes abc+d (rank 3 < 4) available: it runs before the second a+bc, as in HF's heap.
    Result: abcd|abcd.
    """
    m = make_merges("b+c", "a+b", "ab+c", "abc+d", "a+bc")
    assert m.ids.tolist() == [26, 27, 28, 29, 28]
    assert strings(encode(codes("abcdabcd"), m), m) == ["abcd", "abcd"]
    assert strings(encode(codes("abcabcd"), m), m) == ["abc", "abcd"]


@pytest.mark.parametrize("encode", BPE_ENCODERS)
def test_long_runs_halve_level_by_level(encode):
    """A run of k tokens x with x+x: k // 2 tokens xx, then a trailing x when k is odd."""
    m = make_merges("a+a", "aa+aa", "aaaa+aa", "b+a")
    assert strings(encode(codes("a" * 7), m), m) == ["aaaaaa", "a"]
    assert strings(encode(codes("a" * 9), m), m) == ["aaaa", "aaaa", "a"]
    assert strings(encode(codes("b" + "a" * 6 + "b"), m), m) == ["b", "aaaaaa", "b"]
    assert strings(encode(codes("b" + "a" * 5), m), m) == ["b", "aaaa", "a"]
    for k in range(40):  # runs next to other tokens, every length
        seq = codes("b" + "a" * k + "cb" + "a" * (k // 3))
        assert list(encode(seq, m)) == encode_bpe_reference(seq, m)


@pytest.mark.parametrize("encode", BPE_ENCODERS)
def test_run_whose_merge_result_was_built_before(encode):
    """'abab' is built by aba+b (rank 2) and again by ab+ab (rank 4); abab+abab has rank 3.

    In a run of 'ab', merging the first two gives 'abab'; the second merge makes abab+abab
    (rank 3) available, which must run before the rest of the run: one rank-4 merge at a time.
    """
    m = make_merges("a+b", "ab+a", "aba+b", "abab+abab", "ab+ab")
    assert m.ids.tolist() == [26, 27, 28, 29, 28]
    assert strings(encode(codes("ab" * 8), m), m) == ["abababab"] * 2
    assert strings(encode(codes("ab" * 7), m), m) == ["abababab", "abab", "ab"]
    assert strings(encode(codes("ab" * 6 + "a"), m), m) == ["abababab", "ab", "aba"]
    m = make_merges("a+b", "ab+a", "aba+b", "c+abab", "abab+ab", "ab+ab")  # lower rank on both sides
    for k in range(12):
        for text in ("c" + "ab" * k, "ab" * k + "c", "cab" + "ab" * k + "abc"):
            assert list(encode(codes(text), m)) == encode_bpe_reference(codes(text), m), text


@pytest.mark.parametrize("encode", ENCODERS)
def test_no_merges_and_empty_input(encode):
    m = make_merges()
    assert list(encode(codes("zya"), m)) == [25, 24, 0]
    assert list(encode(np.zeros(0, np.uint8), make_merges("a+b"))) == []


@pytest.mark.parametrize("encode", ENCODERS)
def test_single_symbol(encode):
    assert list(encode(codes("q"), make_merges("q+q"))) == [16]


# ---------------------------------------------------------------------------- properties


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(merges_and_codes())
def test_compiled_encoders_equal_their_reference(mc):
    m, seq = mc
    assert encode_bpe(seq, m).tolist() == encode_bpe_reference(seq, m)
    assert encode_greedy(seq, m).tolist() == encode_greedy_reference(seq, m)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(merges_and_runs())
def test_compiled_bpe_equals_its_reference_on_long_runs(mc):
    m, seq = mc
    assert encode_bpe(seq, m).tolist() == encode_bpe_reference(seq, m)
    assert (
        encode_bpe_batch([seq[:1], seq, seq[::-1], seq[:0]], m).split()[1].tolist()
        == encode_bpe(seq, m).tolist()
    )


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(merges_and_codes())
def test_round_trip_is_lossless_and_ids_are_in_vocab(mc):
    m, seq = mc
    for encode in (encode_bpe, encode_greedy):
        ids = encode(seq, m)
        assert ids.dtype == np.int32
        assert ids.size <= seq.size
        assert ((ids >= 0) & (ids < m.vocab_size)).all()
        back = decode_ids(ids, m)
        assert back.dtype == np.uint8
        assert back.tolist() == seq.tolist()


@settings(max_examples=MAX_EXAMPLES // 2, deadline=None)
@given(random_merges(), st.lists(st.lists(st.integers(0, 3), max_size=40), max_size=8))
def test_batch_equals_one_by_one_and_never_crosses_sequences(m, seqs):
    seqs = [np.array(s, dtype=np.uint8) % m.alphabet_size for s in seqs]
    for single, batch in ((encode_bpe, encode_bpe_batch), (encode_greedy, encode_greedy_batch)):
        for workers in (1, 3):
            res = batch(seqs, m, num_workers=workers)
            assert res.offsets.tolist()[0] == 0 and res.offsets.size == len(seqs) + 1
            assert [p.tolist() for p in res.split()] == [single(s, m).tolist() for s in seqs]


# ---------------------------------------------------------------------------- new tokens next to runs

# Cases where the kernel's new tokens z join a run of z's on their left (``_join`` in
# ``ecgbyte.bpe._encode_bpe``); together they reach every call of it (tested below).
JOIN_CASES = [
    # a+b on "abab": the second ab joins the first (a pair merge)
    pytest.param(("a+b",), "abab", ["ab", "ab"], id="pair"),
    # aaaa is built by aaa+a and by aa+aa, and aaaa+aaaa ranks below aa+aa: the run of eight aa
    # merges one pair at a time, each new aaaa joining the one on its left, then whole runs
    pytest.param(("a+a", "aa+a", "aaa+a", "aaaa+aaaa", "aa+aa"), "a" * 16, ["a" * 8] * 2, id="runs"),
    pytest.param(("a+b", "ab+a", "aba+b", "abab+abab", "ab+ab"), "ab" * 8, ["abababab"] * 2, id="both"),
]

# Merges that build one string twice, so that a new token can meet the same token made earlier.
REPEATED_STRINGS = [
    ("b+c", "a+b", "ab+c", "a+bc"),  # abc from ab+c and from a+bc
    ("a+b", "ab+a", "aba+b", "abab+abab", "ab+ab"),
    ("a+a", "aa+a", "aaa+a", "aaaa+aaaa", "aa+aa"),
    ("c+a", "a+a", "ca+a", "c+aa", "aa+aa", "caa+c"),
    ("a+b", "b+a", "ab+a", "a+ba", "aba+b", "ab+ab", "ba+b"),
]


@pytest.mark.parametrize("encode", BPE_ENCODERS)
@pytest.mark.parametrize(("pairs", "text", "expected"), JOIN_CASES)
def test_new_tokens_join_the_run_on_their_left(encode, pairs, text, expected):
    m = make_merges(*pairs)
    assert strings(encode(codes(text), m), m) == expected


def test_join_cases_reach_every_join_in_the_kernel(monkeypatch):
    """Run as plain Python (what ``NUMBA_DISABLE_JIT=1`` runs), the join cases call ``_join`` from
    every place the kernel calls it, and ``_push_right_pair`` (where the proof that no join goes
    rightwards stands) from every place too."""
    import ast
    import inspect

    from numba.core.dispatcher import Dispatcher

    from ecgbyte.bpe import _encode_bpe, _encode_queue, _encode_table, encoders

    for mod in (_encode_bpe, _encode_queue, _encode_table, encoders):
        for name, obj in list(vars(mod).items()):
            if isinstance(obj, Dispatcher):
                monkeypatch.setattr(mod, name, obj.py_func)
    watched = ("_join", "_push_right_pair")
    reached = set()

    def spy(f):
        def called(*args):
            reached.add((f.__name__, sys._getframe(1).f_lineno))  # the kernel's line calling f
            return f(*args)

        return called

    for name in watched:
        monkeypatch.setattr(_encode_bpe, name, spy(getattr(_encode_bpe, name)))
    with np.errstate(over="ignore"):  # the hash multiplies wrap around, as in the compiled kernel
        for case in JOIN_CASES:
            pairs, text, expected = case.values
            m = make_merges(*pairs)
            assert strings(encoders.encode_bpe(codes(text), m), m) == expected
    tree = ast.parse(inspect.getsource(_encode_bpe))
    calls = {
        (node.func.id, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in watched
    }
    assert len(calls) >= 5
    assert reached == calls


@pytest.mark.parametrize("pairs", REPEATED_STRINGS)
def test_every_short_string_under_merges_that_build_one_string_twice(pairs):
    """Every string of up to 7 symbols over a, b, c: compiled = reference (new tokens next to the
    same token built earlier, on either side, or next to the pair that will build it)."""
    m = make_merges(*pairs, alphabet_size=3)
    seqs = [np.array(t, np.uint8) for n in range(8) for t in itertools.product(range(3), repeat=n)]
    got = encode_bpe_batch(seqs, m).split()
    assert [g.tolist() for g in got] == [encode_bpe_reference(s, m) for s in seqs]


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(st.one_of(merges_and_runs(), merges_and_codes()))
def test_a_merge_never_finds_its_result_on_its_right(mc):
    """The statement proved in ``_push_right_pair``: in HF's order, when (a, b) merges into z, the
    token right after the pair is never z (the one before it may be)."""
    m, seq = mc
    rank = {}
    for r, (pair, z) in enumerate(zip(map(tuple, m.pairs.tolist()), m.ids.tolist())):
        rank.setdefault(pair, (r, z))
    ids = seq.tolist()
    while True:
        ready = [(rank[pair][0], i) for i, pair in enumerate(itertools.pairwise(ids)) if pair in rank]
        if not ready:
            break
        i = min(ready)[1]
        z = rank[ids[i], ids[i + 1]][1]
        assert ids[i + 2 : i + 3] != [z]
        ids[i : i + 2] = [z]
    assert ids == encode_bpe_reference(seq, m)


# ---------------------------------------------------------------------------- batch, decode API


def test_batch_boundaries_and_greedy_on_concatenation_is_the_original():
    """Per lead, 'ab' and 'cd' stay apart; the original encodes the leads concatenated."""
    m = make_merges("a+b", "c+d", "ab+cd")
    res = encode_greedy_batch([codes("ab"), codes("cd")], m)
    assert isinstance(res, EncodedBatch)
    assert strings(res.ids, m) == ["ab", "cd"] and res.offsets.tolist() == [0, 1, 2]
    assert strings(encode_greedy(codes("abcd"), m), m) == ["abcd"]
    res = encode_bpe_batch(np.stack([codes("abcd"), codes("cdab")]), m)  # 2-D input
    assert res.offsets.tolist() == [0, 1, 3] and strings(res.ids, m) == ["abcd", "cd", "ab"]


def test_batch_empty_inputs():
    m = make_merges("a+b")
    res = encode_bpe_batch([], m)
    assert res.ids.size == 0 and res.offsets.tolist() == [0]
    res = encode_greedy_batch([np.zeros(0, np.uint8), codes("ab"), np.zeros(0, np.uint8)], m, num_workers=2)
    assert res.ids.tolist() == [26] and res.offsets.tolist() == [0, 0, 1, 1]


def test_long_leads_many_ecgs_with_workers():
    """12 leads x 50 ECGs of 2500 random-walk symbols: batch == single, any worker count."""
    rng = np.random.default_rng(0)
    walk = np.clip(13 + np.cumsum(rng.integers(-1, 2, size=(600, 2500)), axis=1), 0, 25).astype(np.uint8)
    m = make_merges("m+m", "n+n", "m+n", "mm+mm", "n+m", "l+l", "o+o", "mn+m", "nn+nn", "mmmm+mmmm")
    t = encoder_tables(m)
    for batch, single in ((encode_bpe_batch, encode_bpe), (encode_greedy_batch, encode_greedy)):
        one = batch(walk, t)
        two = batch(walk, t, num_workers=2)
        assert np.array_equal(one.ids, two.ids) and np.array_equal(one.offsets, two.offsets)
        for i in (0, 299, 599):
            assert np.array_equal(one.split()[i], single(walk[i], m))
        assert np.array_equal(decode_ids(one.ids, t), walk.reshape(-1))


def test_alphabets_past_a_byte_encode_as_int32_codes():
    alphabet = "".join(chr(0x100 + i) for i in range(300))
    m = Merges(np.array([[299, 299], [300, 299], [0, 299]]), np.array([300, 301, 302]), 300, alphabet)
    seq = np.array([299] * 7 + [0, 299, 299], dtype=np.int64)
    assert encode_bpe(seq, m).tolist() == encode_bpe_reference(seq, m) == [300, 300, 301, 0, 300]
    assert encode_greedy(seq, m).tolist() == encode_greedy_reference(seq, m)
    back = decode_ids(encode_bpe(seq, m), m)
    assert back.dtype == np.int32 and back.tolist() == seq.tolist()


def test_tables_are_cached_per_merges_object():
    m = make_merges("a+b")
    assert encoder_tables(m) is encoder_tables(m)
    assert encoder_tables(encoder_tables(m)) is encoder_tables(m)
    assert encoder_tables(make_merges("a+b")) is not encoder_tables(m)


def test_decode_ids_uses_token_strings():
    m = make_merges("a+b", "ab+c", "z+z")
    assert decode_ids([27, 28, 0, 26], m).tolist() == codes("abczzaab").tolist()
    assert decode_ids(np.zeros(0, np.int64), m).tolist() == []


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("encode", [encode_bpe, encode_greedy])
def test_codes_outside_the_alphabet_raise(encode):
    m = make_merges("a+b", alphabet_size=4)
    with pytest.raises(TokenizerError, match=r"symbol code 7 at position 2 is outside the alphabet 0\.\.3"):
        encode(np.array([0, 1, 7]), m)
    with pytest.raises(TokenizerError, match="outside the alphabet"):
        encode(np.array([-1]), m)
    with pytest.raises(TokenizerError, match="must be integers"):
        encode(np.array([0.0, 1.0]), m)
    with pytest.raises(TokenizerError, match="1-D"):
        encode(np.zeros((2, 3), np.uint8), m)
    with pytest.raises(TokenizerError, match=r"expected ecgbyte\.bpe\.Merges"):
        encode(np.array([0]), {"pairs": []})


def test_batch_and_decode_errors():
    m = make_merges("a+b")
    with pytest.raises(TokenizerError, match="sequence 1: symbol code 30"):
        encode_bpe_batch([codes("ab"), np.array([30])], m)
    bad = np.zeros((3, 4), np.uint8)
    bad[2, 1] = 40
    with pytest.raises(TokenizerError, match="sequence 2: symbol code 40 at position 1"):
        encode_greedy_batch(bad, m)
    with pytest.raises(TokenizerError, match="must be integers"):
        encode_greedy_batch(bad.astype(float), m)
    with pytest.raises(TokenizerError, match="one 1-D array"):
        encode_bpe_batch(codes("ab"), m)
    with pytest.raises(TokenizerError, match="num_workers"):
        encode_greedy_batch([codes("ab")], m, num_workers=0)
    with pytest.raises(TokenizerError, match=r"token id 27 at position 1 is outside the vocabulary 0\.\.26"):
        decode_ids([26, 27], m)
    with pytest.raises(TokenizerError, match="1-D integer"):
        decode_ids(np.array([[0]]), m)


def test_encoders_do_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from ecgbyte.bpe import Merges, encode_bpe, encode_greedy, to_hf_tokenizer\n"
        "m = Merges(np.array([[0, 1]]), np.array([26]))\n"
        "encode_bpe(np.array([0, 1]), m); encode_greedy(np.array([0, 1]), m); to_hf_tokenizer(m)\n"
        "bad = [k for k in ('torch', 'transformers', 'peft') if k in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
