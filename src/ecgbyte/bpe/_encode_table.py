"""Pair table of the rank-ordered encoder: ``(left, right) -> merge rank`` lookups.

Built once per :class:`~ecgbyte.bpe.merges.Merges` (:func:`ecgbyte.bpe.encoders.encoder_tables`
calls the two builders) and read by :mod:`ecgbyte.bpe._encode_bpe`, which inlines
:func:`_lookup`. A lookup takes the table as ``pt = (table, mask, vocab_size)``.

numba caches a kernel by its own file only: after editing ``_lookup`` or ``_hash`` here, delete
the ``*.nbi``/``*.nbc`` files under ``bpe/__pycache__`` so that the kernels inlining them
compile again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

RANK_BITS = 24  # ranks < 2**24 merges; pair keys left * vocab_size + right < 2**39


@njit(cache=True, nogil=True)
def _hash(key: np.int64, mask: np.int64) -> np.int64:
    # Fibonacci hashing on the 64-bit key; ``mask`` = table size - 1 (a power of two).
    h = (key * np.int64(-7046029254386353131)) >> np.int64(20)
    return h & mask


@njit(cache=True, nogil=True)
def build_pair_table(left, right, vocab_size, table_size, alphabet_size):
    """Tables ``(left, right) -> rank`` (-1 when the pair is no merge).

    ``table``: open addressing, one int64 per slot, ``key << RANK_BITS | rank`` with key
    ``left * vocab_size + right`` (-1 = empty), so a probe touches one cache line.
    ``first``: dense int32 ``[alphabet_size * alphabet_size]`` for pairs of single symbols.
    A pair listed twice keeps its first (lowest) rank, as in HF.
    """
    table = np.full(table_size, -1, dtype=np.int64)
    first = np.full(alphabet_size * alphabet_size, -1, dtype=np.int32)
    mask = np.int64(table_size - 1)
    for r in range(left.shape[0]):
        key = np.int64(left[r]) * vocab_size + np.int64(right[r])
        h = _hash(key, mask)
        while table[h] != -1 and (table[h] >> RANK_BITS) != key:
            h = (h + 1) & mask
        if table[h] == -1:
            table[h] = (key << RANK_BITS) | r
            if left[r] < alphabet_size and right[r] < alphabet_size:
                first[left[r] * alphabet_size + right[r]] = r
    return table, first


@njit(cache=True, nogil=True, _nrt=False, forceinline=True)  # as the encoder's helpers, see _encode_bpe
def _lookup(pt, a, b):
    """Rank of the pair ``(a, b)``, -1 if it is no merge; ``pt = (table, table size - 1, vocab_size)``."""
    table, mask, vocab_size = pt
    key = np.int64(a) * vocab_size + np.int64(b)
    h = _hash(key, mask)
    while True:
        e = table[h]
        if e == -1:
            return -1
        if (e >> RANK_BITS) == key:
            return np.int32(e & ((1 << RANK_BITS) - 1))
        h = (h + 1) & mask


@njit(cache=True, nogil=True)
def build_rank_tables(table, vocab_size, left, right, new):
    """Ranks the encoder would otherwise look up again and again (-1: no merge).

    ``self_rank[t]``: the pair ``(t, t)``, for every token ``t``. ``rank_lz[r]`` and
    ``rank_zr[r]``: the pairs ``(left[r], new[r])`` and ``(new[r], right[r])``, which merge ``r``
    makes when its left part or right part is repeated next to it.
    """
    pt = (table, np.int64(table.shape[0] - 1), vocab_size)
    self_rank = np.empty(vocab_size, np.int32)
    for t in range(vocab_size):
        self_rank[t] = _lookup(pt, t, t)
    n = left.shape[0]
    rank_lz = np.empty(n, np.int32)
    rank_zr = np.empty(n, np.int32)
    for r in range(n):
        rank_lz[r] = _lookup(pt, left[r], new[r])
        rank_zr[r] = _lookup(pt, new[r], right[r])
    return self_rank, rank_lz, rank_zr
