"""Hypothesis strategies shared by the BPE encoder and HF-export tests."""

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
