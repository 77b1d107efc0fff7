"""Hand-checkable spec tests of the BPE trainers, one per rule (minbpe ``test_wikipedia_example``).

Each test gives a tiny corpus, the exact merges and ids, and the derivation in its docstring. Every
test runs over both trainers: the pure-Python spec and the compiled incremental trainer.
Letters stand for symbol codes: a=0, b=1, c=2, d=3; merged tokens get ids from ``alphabet_size`` on.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecgbyte.bpe import reference, train
from ecgbyte.symbols import str_to_codes

TRAINERS = [pytest.param(reference.train, id="reference"), pytest.param(train, id="numba")]


def codes(*strings: str) -> list[np.ndarray]:
    return [np.asarray(str_to_codes(s)) for s in strings]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_wikipedia_example(train_fn):
    """Wikipedia's "aaabdaaabac", with our counting and tie rules.

    Counts: aa = 2 (each "aaa" run holds one non-overlapping "aa"), ab = 2, bd = da = ba = ac = 1.
    1. aa and ab tie at 2: the lowest pair (0, 0) wins -> "aa" = 4.  Now  Z a b d Z a b a c.
    2. Za = 2 and ab = 2 tie: (0, 1) < (4, 0) -> "ab" = 5.            Now  Z Y d Z Y a c.
    3. ZY = 2 -> "aaab" = 6.                                          Now  X d X a c.
    4. every pair occurs once, below min_frequency=2: stop.
    """
    m = train_fn(codes("aaabdaaabac"), n_merges=10, alphabet_size=4)
    assert m.pairs.tolist() == [[0, 0], [0, 1], [4, 5]]
    assert m.ids.tolist() == [4, 5, 6]
    assert m.vocab() == ["a", "b", "c", "d", "aa", "ab", "aaab"]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_runs_count_without_overlap(train_fn):
    """ "aaab" holds one "aa" (not two): below min_frequency=2, nothing merges.

    "aaaab" holds two: "aa" = 2 merges, giving "AAb"; then AA, Ab occur once each: stop.
    """
    assert len(train_fn(codes("aaab"), n_merges=5, alphabet_size=2)) == 0
    m = train_fn(codes("aaaab"), n_merges=5, alphabet_size=2)
    assert m.pairs.tolist() == [[0, 0]]
    assert m.ids.tolist() == [2]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_merge_applies_left_to_right(train_fn):
    """ "aaab" twice: aa = 2 and ab = 2 tie, (0, 0) wins -> A = "aa".

    Left to right, "aaa" becomes "A a" (not "a A"), so each sequence reads "A a b": Aa = 2 and
    ab = 2 tie, (0, 1) < (2, 0) -> B = "ab"; then "A B" twice -> "aaab" = 4.
    (Right to left, "a A b" would give aA and Ab instead.)
    """
    m = train_fn(codes("aaab", "aaab"), n_merges=5, alphabet_size=2)
    assert m.pairs.tolist() == [[0, 0], [0, 1], [2, 3]]
    assert m.vocab()[2:] == ["aa", "ab", "aaab"]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_no_merge_crosses_a_sequence_boundary(train_fn):
    """Four leads "ab": ab = 4 -> A = "ab"; each lead is then one token, nothing is left to merge.

    Concatenated ("abababab" -> "AAAA"), AA would occur twice and merge: it must not.
    Also: "ba" never counts across the lead boundary "a|b" ... "b|a".
    """
    m = train_fn(codes("ab", "ab", "ab", "ab"), n_merges=5, alphabet_size=2)
    assert m.pairs.tolist() == [[0, 1]]
    m = train_fn(codes("b", "a", "b", "a"), n_merges=5, alphabet_size=2, min_frequency=1)
    assert len(m) == 0


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_ties_go_to_the_lowest_pair(train_fn):
    """ "ba" then "ab", each once: ba and ab tie at 1; (0, 1) < (1, 0), so "ab" wins although "ba"
    comes first in the corpus. Next, "ba" is the only pair left -> 3.
    """
    m = train_fn(codes("ba", "ab"), n_merges=5, alphabet_size=2, min_frequency=1)
    assert m.pairs.tolist() == [[0, 1], [1, 0]]
    assert m.ids.tolist() == [2, 3]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_stops_at_n_merges_and_min_frequency(train_fn):
    """ "abcabcab" (alphabet a, b, c): ab = 3, bc = 2, ca = 2 -> A = "ab" = 3.

    Now "A c A c A": Ac = (3, 2) and cA = (2, 3) tie at 2; (2, 3) is lower -> B = "cab" = 4,
    giving "A B B": AB = 1, BB = 1, below min_frequency=2: stop after 2 merges.
    """
    corpus = codes("abcabcab")
    m = train_fn(corpus, n_merges=10, alphabet_size=3)
    assert m.pairs.tolist() == [[0, 1], [2, 3]]
    assert m.vocab()[3:] == ["ab", "cab"]
    assert train_fn(corpus, n_merges=1, alphabet_size=3).pairs.tolist() == [[0, 1]]
    assert len(train_fn(corpus, n_merges=10, alphabet_size=3, min_frequency=4)) == 0
    assert len(train_fn(corpus, n_merges=0, alphabet_size=3)) == 0


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_max_token_length(train_fn):
    """Nine a's: aa = 4 -> A = "aa", giving "A A A A a": AA = 2 (length 4), Aa = 1 (length 3).

    With max_token_length=3 (min_frequency=1), AA is never allowed: Aa -> "aaa" = 2 wins, giving
    "A A A C"; AA is still too long and AC ("aaaaa") too: stop.
    With max_token_length=2, only "aa" is ever allowed.
    Without a limit: AA = 2 -> B = "aaaa" = 2, giving "B B a"; BB = 1 and Ba = 1 tie, (2, 0) <
    (2, 2) -> "aaaaa" = 3, giving "B D"; then BD -> nine a's = 4.
    """
    m = train_fn(codes("a" * 9), n_merges=10, alphabet_size=1, max_token_length=3, min_frequency=1)
    assert m.pairs.tolist() == [[0, 0], [1, 0]]
    assert m.vocab() == ["a", "aa", "aaa"]
    m = train_fn(codes("a" * 9), n_merges=10, alphabet_size=1, max_token_length=2, min_frequency=1)
    assert m.pairs.tolist() == [[0, 0]]
    m = train_fn(codes("a" * 9), n_merges=10, alphabet_size=1, min_frequency=1)
    assert m.vocab() == ["a", "aa", "aaaa", "aaaaa", "a" * 9]


@pytest.mark.parametrize("train_fn", TRAINERS)
def test_identical_sequences_weigh_by_their_count(train_fn):
    """ "cd" twice and "ab" three times, interleaved: ab = 3 beats cd = 2 -> "ab" = 4, then "cd" = 5.

    The compiled trainer keeps each distinct sequence once with its multiplicity as weight, so it
    must count "ab" three times and "cd" twice, exactly as the reference (which keeps all five).
    """
    m = train_fn(codes("cd", "ab", "cd", "ab", "ab"), n_merges=5, alphabet_size=4)
    assert m.pairs.tolist() == [[0, 1], [2, 3]]
    assert m.ids.tolist() == [4, 5]
