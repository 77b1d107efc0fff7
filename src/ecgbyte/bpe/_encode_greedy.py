"""Greedy longest-match kernels (the original ECG-Byte encoder) and decoding: arrays in, arrays out.

Behind :func:`ecgbyte.bpe.encoders.encode_greedy` and :func:`ecgbyte.bpe.encoders.decode_ids`,
which check the inputs and build the tables. ``greedy_encode_flat`` is the original
``encode_text``: walk a trie of the token strings from the current position, emit the longest
token seen, continue after it. Its rank-ordered sibling is :mod:`ecgbyte.bpe._encode_bpe`.
Every kernel is ``nogil`` so that batch encoding can run on several threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def build_trie(tok_codes, tok_offsets, alphabet_size):
    """Dense trie over token strings: ``child[node, symbol]`` (-1 none), ``token[node]``.

    A later token with the same string overwrites an earlier one, as in the original.
    """
    n_tok = tok_offsets.shape[0] - 1
    cap = tok_codes.shape[0] + 1
    child = np.full((cap, alphabet_size), -1, np.int32)
    token = np.full(cap, -1, np.int32)
    n_nodes = 1
    for t in range(n_tok):
        node = 0
        for j in range(tok_offsets[t], tok_offsets[t + 1]):
            c = tok_codes[j]
            nx = child[node, c]
            if nx == -1:
                nx = n_nodes
                child[node, c] = nx
                n_nodes += 1
            node = nx
        token[node] = t
    return child[:n_nodes].copy(), token[:n_nodes].copy()


@njit(cache=True, nogil=True)
def greedy_encode_flat(codes, offsets, child, token, out, out_offsets):
    """Longest match of every ``codes[offsets[i]:offsets[i + 1]]``, packed into ``out``.

    ``out_offsets`` (length ``len(offsets)``) gets the offsets of the packed result; returns the
    total number of ids written.
    """
    n_seq = offsets.shape[0] - 1
    o = 0
    out_offsets[0] = 0
    for s in range(n_seq):
        i = offsets[s]
        end = offsets[s + 1]
        while i < end:
            node = 0
            best = -1
            best_len = 1
            j = i
            while j < end:
                node = child[node, codes[j]]
                if node == -1:
                    break
                j += 1
                if token[node] != -1:
                    best = token[node]
                    best_len = j - i
            if best == -1:  # unreachable with a complete alphabet; the original emits the symbol
                best = codes[i]
            out[o] = best
            o += 1
            i += best_len
        out_offsets[s + 1] = o
    return o


@njit(cache=True, nogil=True)
def decode_flat(ids, tok_codes, tok_offsets, out):
    """Concatenate the symbol strings of ``ids`` into ``out``; return the length written."""
    o = 0
    for i in range(ids.shape[0]):
        t = ids[i]
        for j in range(tok_offsets[t], tok_offsets[t + 1]):
            out[o] = tok_codes[j]
            o += 1
    return o
