"""Numba kernels for the BPE trainer split over processes (:mod:`ecgbyte.bpe.distributed`).

Each process holds its own partitions of the corpus (pair tables ``tkey``/``tcnt``, rows per
partition) and a replica of the global queue; these kernels read local counts for a list of pairs,
collect the pairs whose local counts grew in a merge, and push pairs with their global counts.
"""

from __future__ import annotations

import numpy as np

from ecgbyte.bpe._train_table import (
    EMPTY,
    NOUT,
    NTOUCH,
    _count,
    _heap_pop,
    _heap_push,
    _kernel,
    _new_id,
    _slot,
)


@_kernel
def local_counts(tkey, tcnt, keys, out):
    """``out[i]``: this process's count of pair ``keys[i]`` (summed over its partitions)."""
    for i in range(keys.shape[0]):
        out[i] = _count(tkey, tcnt, keys[i])


@_kernel
def grown_keys(tkey, tstamp, touched, pst, skip, out):
    """The pairs whose count grew in the current merge in any partition, each once, except ``skip``
    (written to ``out``; returns how many). ``out`` holds at least ``sum(pst[:, NTOUCH])``."""
    m = 0
    for q in range(tkey.shape[0]):
        for j in range(pst[q, NTOUCH]):
            k = tkey[q, touched[q, j]]
            if k == skip:
                continue
            seen = False
            for r in range(q):  # counted in an earlier partition in this merge
                i = _slot(tkey[r], k)
                if tkey[r, i] == k and tstamp[r, i] == pst[r, NOUT]:
                    seen = True
                    break
            if not seen:
                out[m] = k
                m += 1
    return m


@_kernel
def table_keys(tkey, out):
    """Every pair in this process's tables, each once (written to ``out``; returns how many)."""
    m = 0
    for q in range(tkey.shape[0]):
        for i in range(tkey.shape[1]):
            k = tkey[q, i]
            if k == EMPTY:
                continue
            seen = False
            for r in range(q):
                if tkey[r, _slot(tkey[r], k)] == k:
                    seen = True
                    break
            if not seen:
                out[m] = k
                m += 1
    return m


@_kernel
def push_all(hcnt, hkey, st, counts, keys, vlen, max_len, min_count):
    """Queue every pair counted at least ``min_count`` times whose token fits in ``max_len`` symbols
    (the caller guarantees room)."""
    for i in range(keys.shape[0]):
        k = keys[i]
        if counts[i] >= min_count and vlen[k >> 32] + vlen[k & 0xFFFFFFFF] <= max_len:
            _heap_push(hcnt, hkey, st, counts[i], k)


@_kernel
def pop(hcnt, hkey, st, out):
    """Pop the best entry into ``out = [count, key]``."""
    c, k = _heap_pop(hcnt, hkey, st)
    out[0] = c
    out[1] = k


@_kernel
def push(hcnt, hkey, st, cnt, key):
    _heap_push(hcnt, hkey, st, cnt, key)


@_kernel
def new_id(left, right, vlen, vhash, vpow, voff, vbuf, st):
    """:func:`ecgbyte.bpe._train_table._new_id` as a kernel of its own."""
    return _new_id(np.int32(left), np.int32(right), vlen, vhash, vpow, voff, vbuf, st)
