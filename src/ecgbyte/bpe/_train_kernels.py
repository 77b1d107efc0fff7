"""Numba kernels of the incremental BPE trainer: arrays in, arrays out; no validation, I/O or printing.

:mod:`ecgbyte.bpe.trainer` validates the corpus, lays it out and calls these; the pure-Python spec
they must agree with is :mod:`ecgbyte.bpe.reference`. This module holds the driver-facing loop,
:func:`train_chunk`, and gives the driver every name it needs from its parts:

- :mod:`ecgbyte.bpe._train_lists`: the corpus layout (``sym``, 2 bytes per symbol) and the lazy
  lists of the token starts where each pair occurs (a pool of int32 chunks per partition, at most
  half an entry per symbol);
- :mod:`ecgbyte.bpe._train_table`: the pair table (open addressing, key ``left << 32 | right``,
  weighted count ``tcnt``: a run of k equal tokens counts k // 2, list head ``thead``), the
  priority queue (a lazy max-heap of ``(count, key)``: highest count, then lowest
  ``(left, right)``), the vocabulary and the ``st`` scalars;
- :mod:`ecgbyte.bpe._train_merge`: one merge, in one partition (``merge_part``) or in all
  (``merge_parts``).

Partitions and threads
----------------------
The corpus is cut at sequence boundaries into partitions, one per thread. Each partition has its
own pair table (counts and list heads of the pairs in its part) and its own occurrence lists, so
merging a pair in one partition never touches another's memory: a frequent pair is merged in all
partitions at once on numba's thread pool (``merge_parts``, a ``prange`` over partitions), a rare
one in each partition in turn. A pair's count is the sum over the partitions' tables; the queue,
the vocabulary and the merge order are global, so the merges are the same whatever the number of
partitions.
"""

from __future__ import annotations

import numpy as np

# the driver (ecgbyte.bpe.trainer) reads these here too
from ecgbyte.bpe._train_lists import CHUNK, SENT, init_parts, rebuild  # noqa: F401
from ecgbyte.bpe._train_merge import (  # noqa: F401
    GO_ON,
    NEED_HEAP,
    NEED_SCAN,
    NEED_TABLE,
    NEED_VBUF,
    STOP,
    merge_part,
    merge_parts,
)
from ecgbyte.bpe._train_table import (  # noqa: F401
    _HBASE,
    ALWAYS_WINDOW,
    CURCNT,
    CURKEY,
    CURNEW,
    EMPTY,
    FREE,
    HSIZE,
    MAXLEN,
    N_STATE,
    NCHUNK,
    NEEDSCAN,
    NOUT,
    NTOUCH,
    PHASE,
    TRACKED,
    UNTRACKED,
    USED,
    VBUF,
    VSIZE,
    _count,
    _heap_pop,
    _heap_push,
    _inline,
    _kernel,
    _new_id,
    _slot,
    init_heap,
    rehash,
)


@_inline
def _touched_before(tkey, tstamp, q, key, n):
    """Whether a partition before ``q`` changed the count of ``key`` in merge ``n`` (then it was queued)."""
    for r in range(q):
        i = _slot(tkey[r], key)
        if tkey[r, i] == key and tstamp[r, i] == n:
            return True
    return False


@_kernel
def train_chunk(
    sym, pool, tkey, tcnt, thead, tstamp, touched, pst, hcnt, hkey,
    vlen, vhash, vpow, voff, vbuf, gstart, gw, st, n_todo, min_freq, max_len, par_min, codes, out_pairs, out_ids,
):  # fmt: skip
    """Start up to ``n_todo`` merges (appended to ``out_pairs``/``out_ids`` at ``st[NOUT]``).

    The corpus is cut into partitions (at sequence boundaries), each with its own pair table and
    occurrence lists: rows of ``tkey, tcnt, thead, tstamp, touched`` and of the per-partition
    scalars ``pst``. A pair's count is the sum over the partitions; the queue and ``st`` are global.

    A pair counted at least ``par_min`` times is merged in all partitions at once, one per thread
    of numba's pool (:func:`merge_parts`); a rarer one in each partition in turn, where handing
    the work to threads would cost more than it saves.

    Returns GO_ON (chunk done), STOP (no allowed pair reaches ``min_freq``), or NEED_TABLE /
    NEED_HEAP / NEED_VBUF / NEED_SCAN: the caller grows that array (or rebuilds the lists of the
    partitions with ``pst[q, NEEDSCAN]`` set) and calls again; ``st[PHASE]`` resumes the
    merge where it paused (0: pick a pair, 1: merge it in every partition, 2: queue the pairs
    whose counts changed). ``codes``: scratch, one int64 per partition.
    """
    n_parts = tkey.shape[0]
    started = 0
    while True:
        if st[PHASE] == 0:
            if started >= n_todo:
                return GO_ON
            if st[VBUF] + 2 * st[MAXLEN] > vbuf.shape[0]:
                return NEED_VBUF
            if st[HSIZE] == 0:
                return STOP
            cnt, key = _heap_pop(hcnt, hkey, st)
            now = _count(tkey, tcnt, key)
            if now != cnt:  # stale: the pair's count changed after it was queued
                if min_freq <= now < cnt:  # it fell (falls are not queued when they happen): queue it now
                    _heap_push(hcnt, hkey, st, now, key)
                continue  # (if it grew, a higher entry of it was queued then)
            if cnt < min_freq:
                return STOP
            x = np.int32(key >> 32)
            y = np.int32(key & 0xFFFFFFFF)
            new = _new_id(x, y, vlen, vhash, vpow, voff, vbuf, st)
            n = st[NOUT] + 1
            st[NOUT] = n
            out_pairs[n, 0] = x
            out_pairs[n, 1] = y
            out_ids[n] = new
            for q in range(n_parts):
                pst[q, NTOUCH] = 0
                pst[q, NOUT] = n
            st[CURKEY] = key
            st[CURNEW] = new
            st[CURCNT] = cnt
            st[PHASE] = 1
            started += 1
        elif st[PHASE] == 1:
            if n_parts > 1 and st[CURCNT] >= par_min:
                merge_parts(
                    sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, pst,
                    gstart, gw, st[CURKEY], np.int32(st[CURNEW]), codes,
                )  # fmt: skip
                for q in range(n_parts):
                    if codes[q] != GO_ON:
                        return codes[q]
            else:
                for q in range(n_parts):
                    code = merge_part(
                        sym, vlen, pool[q], tkey[q], tcnt[q], thead[q], tstamp[q], touched[q], pst[q],
                        gstart, gw, st[CURKEY], np.int32(st[CURNEW]),
                    )  # fmt: skip
                    if code != GO_ON:
                        return code
            st[PHASE] = 2
        else:
            n_touched = 0
            for q in range(n_parts):
                n_touched += pst[q, NTOUCH]
            if st[HSIZE] + n_touched > hcnt.shape[0]:
                return NEED_HEAP
            key = st[CURKEY]
            for q in range(n_parts):  # queue each changed pair once, with its total count
                for j in range(pst[q, NTOUCH]):
                    k = tkey[q, touched[q, j]]
                    if k == key or _touched_before(tkey, tstamp, q, k, st[NOUT]):
                        continue
                    a = k >> 32
                    b = k & 0xFFFFFFFF
                    if vlen[a] + vlen[b] > max_len:
                        continue
                    c = _count(tkey, tcnt, k)
                    if c >= min_freq:  # (a rarer pair can never be picked)
                        _heap_push(hcnt, hkey, st, c, k)
            st[PHASE] = 0
