"""The benchmark's NumPy port of the original ECG-Byte BPE, checked on hand-derived examples.

The port (``benchmarks/_original_ecgbyte.py``) is the baseline every speed ratio is measured
against, so it must do what the original Rust code does: one corpus string, overlapping pair
counts recomputed before every merge, left-to-right non-overlapping replacement, new id
``256 + i`` per merge, no minimum frequency, and greedy longest-match encoding.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _original_ecgbyte as orig


def codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) - ord("a")


def test_worked_example_aaabab() -> None:
    """Derivation, corpus ``"aaabab"`` (a=97, b=98):

    merge 0: overlapping counts aa=2 (0,1), ab=2 (2,4), ba=1 -> tie aa/ab, lowest pair (97, 97)
             -> 256 'aa'; corpus [aa a b a b]
    merge 1: (aa,a)=1, ab=2, ba=1 -> (97, 98) -> 257 'ab'; corpus [aa ab ab]
    merge 2: (aa,ab)=1, (ab,ab)=1 -> tie, lowest (256, 257) -> 258 'aaab'; corpus [aaab ab]
    merge 3: (aaab,ab)=1 (no minimum frequency) -> 259 'aaabab'; corpus [aaabab]
    then one id is left, so training stops after 4 of the 10 requested merges.
    """
    bpe = orig.train(codes("aaabab"), 10)
    assert bpe.pairs.tolist() == [[97, 97], [97, 98], [256, 257], [258, 257]]
    assert bpe.counts.tolist() == [2, 2, 1, 1]
    assert bpe.merges == [
        ([97, 97], 256),
        ([97, 98], 257),
        ([97, 97, 97, 98], 258),
        ([97, 97, 97, 98, 97, 98], 259),
    ]
    assert bpe.final_length == 1
    assert bpe.vocab == {256: "aa", 257: "ab", 258: "aaab", 259: "aaabab"}
    assert len(bpe.merge_times) == 4


def test_runs_counted_with_overlap_but_merged_without() -> None:
    """``"aaabcbc"``: overlapping counts give aa=2 (positions 0 and 1) and bc=2; the tie goes to
    the lowest pair, aa. With non-overlapping counts aa would be 1 and bc would win. The merge
    replaces only positions 0-1: corpus [aa a b c b c]; next bc=2 -> [aa a bc bc]."""
    bpe = orig.train(codes("aaabcbc"), 2)
    assert bpe.pairs.tolist() == [[97, 97], [98, 99]]
    assert bpe.counts.tolist() == [2, 2]
    assert bpe.final_length == 4


@pytest.mark.parametrize(
    ("text", "final"),
    [("aaaa", 2), ("aaaaa", 3), ("aaaaaa", 3), ("baaab", 4), ("aab", 2)],
)
def test_left_to_right_merge_of_runs(text: str, final: int) -> None:
    """One merge of aa: "aaaa" -> [aa aa], "aaaaa" -> [aa aa a], "aaaaaa" -> [aa aa aa],
    "baaab" -> [b aa a b], "aab" -> [aa b]."""
    bpe = orig.train(codes(text), 1)
    assert bpe.pairs.tolist() == [[97, 97]]
    assert bpe.final_length == final


def test_merge_helper_matches_a_scalar_scan() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        ids = rng.integers(0, 3, size=int(rng.integers(2, 30))).astype(np.uint16)
        left, right = (int(x) for x in rng.integers(0, 3, size=2))
        expected, i = [], 0
        while i < ids.size:
            if i + 1 < ids.size and ids[i] == left and ids[i + 1] == right:
                expected.append(9)
                i += 2
            else:
                expected.append(int(ids[i]))
                i += 1
        assert orig._merge(ids.copy(), left, right, 9).tolist() == expected


def test_merges_cross_sequence_boundaries() -> None:
    """Two leads "ab" and "ab" become one corpus "abab": after ab (count 2) the pair (ab, ab)
    spans the boundary and is merged next."""
    corpus = orig.concat_corpus([codes("ab"), codes("ab")])
    assert corpus.tolist() == [0, 1, 0, 1]
    bpe = orig.train(corpus, 5)
    assert bpe.pairs.tolist() == [[97, 98], [256, 256]]
    assert bpe.final_length == 1


def test_new_id_per_merge_and_conversion_to_merges() -> None:
    """ "abcab c": ab=2 -> 256; then (ab,c)=2 -> 257 'abc'. Converted to ecgbyte numbering:
    (0,1)->26, (26,2)->27."""
    bpe = orig.train(codes("abcabc"), 2)
    assert bpe.pairs.tolist() == [[97, 98], [256, 99]]
    pairs, ids = orig.to_merge_pairs(bpe)
    assert pairs.tolist() == [[0, 1], [26, 2]]
    assert ids.tolist() == [26, 27]


def test_conversion_reuses_the_id_of_an_existing_string() -> None:
    bpe = orig.OriginalBPE(
        pairs=np.array([[97, 98], [256, 99], [98, 99], [97, 258]]),
        counts=np.zeros(4, dtype=np.int64),
        merges=[([97, 98], 256), ([97, 98, 99], 257), ([98, 99], 258), ([97, 98, 99], 259)],
        final_length=0,
        merge_times=np.zeros(4),
    )
    pairs, ids = orig.to_merge_pairs(bpe)
    assert pairs.tolist() == [[0, 1], [26, 2], [1, 2], [0, 28]]
    assert ids.tolist() == [26, 27, 28, 27]
    # the original's trie keeps the id inserted last for the duplicated string 'abc'
    assert orig.GreedyEncoder(bpe).encode_text("abc") == [259]


def test_greedy_encoder_longest_match() -> None:
    """Tokens aa, ab, aaab, aaabab. "aaababa" -> longest match 'aaabab' then 'a';
    "aab" -> 'aaa' is a trie node but 'aab' is not, so 'aa' then 'b';
    "aaaba" -> 'aaab' then 'a'; "ba" -> single bytes."""
    enc = orig.GreedyEncoder(orig.train(codes("aaabab"), 10))
    assert enc.encode_text("aaababa") == [259, 97]
    assert enc.encode_text("aab") == [256, 98]
    assert enc.encode_text("aaaba") == [258, 97]
    assert enc.encode_text("ba") == [98, 97]
    assert enc.encode_text("") == []
    assert enc.encode_codes(codes("abab")) == [257, 257]


def test_stop_after_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    corpus = rng.integers(0, 26, size=5000).astype(np.uint8)
    full = orig.train(corpus, 40)
    again = orig.train(corpus, 40)
    part = orig.train(corpus, 40, stop_after=10)
    assert np.array_equal(full.pairs, again.pairs)
    assert np.array_equal(part.pairs, full.pairs[:10])
    assert len(full.pairs) == 40
    # counts are the true overlapping counts of the chosen pair in the corpus at that time
    first = full.pairs[0] - 97
    hits = np.sum((corpus[:-1] == first[0]) & (corpus[1:] == first[1]))
    assert full.counts[0] == hits


def test_rejects_codes_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match=r"0\.\.25"):
        orig.train(np.array([0, 26], dtype=np.uint8), 1)
