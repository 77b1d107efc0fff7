"""Hypothesis strategies shared by the BPE trainer, encoder and HF-export tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ecgbyte.bpe.merges import Merges


@st.composite
def random_merges(draw, max_alphabet: int = 4, max_merges: int = 25) -> Merges:
    """Random valid merges over a small alphabet: many runs and repeated merge results."""
    k = draw(st.integers(1, max_alphabet))
    vocab = [chr(97 + i) for i in range(k)]
    index = {s: i for i, s in enumerate(vocab)}
    rows, ids, used = [], [], set()
    for _ in range(draw(st.integers(0, max_merges))):
        a = draw(st.integers(0, len(vocab) - 1))
        b = draw(st.integers(0, len(vocab) - 1))
        if (a, b) in used:
            continue
        used.add((a, b))
        tok = vocab[a] + vocab[b]
        if tok not in index:
            index[tok] = len(vocab)
            vocab.append(tok)
        rows.append((a, b))
        ids.append(index[tok])
    return Merges(np.array(rows, dtype=np.int64).reshape(-1, 2), np.array(ids, dtype=np.int64), k)


@st.composite
def bpe_corpora(
    draw,
    *,
    max_alphabet: int = 4,
    max_length: int = 40,
    max_run: int = 7,
    max_runs: int = 12,
    max_seqs: int = 6,
    max_merges: int = 40,
    max_token_length: int = 9,
) -> tuple[list[list[int]], dict]:
    """``(sequences, trainer options)``: random symbols or runs of one symbol (what BPE merges most),
    sometimes with repeated sequences (identical leads), and options drawn within the given sizes."""
    alphabet_size = draw(st.integers(1, max_alphabet))
    seq = st.lists(st.integers(0, alphabet_size - 1), min_size=0, max_size=max_length)
    runs = st.lists(
        st.tuples(st.integers(0, alphabet_size - 1), st.integers(1, max_run)), max_size=max_runs
    ).map(lambda rs: [s for s, k in rs for _ in range(k)])
    seqs = draw(st.lists(st.one_of(seq, runs), min_size=0, max_size=max_seqs))
    if seqs and draw(st.booleans()):  # identical leads
        seqs = seqs + draw(st.lists(st.sampled_from(seqs), max_size=4))
    options = {
        "n_merges": draw(st.integers(0, max_merges)),
        "min_frequency": draw(st.integers(1, 3)),
        "max_token_length": draw(st.one_of(st.none(), st.integers(1, max_token_length))),
        "alphabet_size": alphabet_size,
    }
    return seqs, options
