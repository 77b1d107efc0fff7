"""Numba pair table, priority queue and vocabulary of the BPE trainer (see :mod:`ecgbyte.bpe._train_kernels`).

- Pair table: open addressing with linear probing, key ``left << 32 | right`` (int64, ``EMPTY``
  when unused), weighted count ``tcnt`` (int64), ``thead`` (int32: the first pool chunk of the pair's
  occurrence list, ``TRACKED`` for an empty list, ``UNTRACKED`` for none) and the merge that last
  raised the pair's count ``tstamp`` (int32). Pairs are never removed (a count may drop to 0).
  One table per partition of the corpus: the kernels take the rows of 2-D arrays.
- Priority queue: a lazy max-heap of ``(count, key)`` in ``hcnt``/``hkey``; best = highest count,
  then lowest key (the lowest ``(left, right)``). Every pair counted at least ``min_frequency``
  times has an entry at least as high as its count: a pair is queued when its count grows, and an
  entry found above its pair's count when popped is queued again with the current count. So the
  first popped entry that equals its pair's count is the best pair. Rarer pairs are never queued
  (they can never be picked), which keeps the queue a fraction of the pair table.
- Vocabulary: each id's length ``vlen``, polynomial hash ``vhash`` (base ``_HBASE``, ``vpow`` =
  base ** length) and symbols ``vbuf[voff[id] : voff[id] + vlen[id]]``, for the id-reuse rule.
- ``st``: int64 scalars shared by the kernels and the Python driver, indexed by the names below.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

EMPTY = -1  # an unused pair-table key
_MULT = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)
_HBASE = 1000003  # polynomial hash base of token strings

# st (int64 scalars shared by the kernels and the Python driver)
USED, NTOUCH, NOUT, HSIZE, VSIZE, VBUF, PHASE, CURKEY, CURNEW, MAXLEN, ALWAYS_WINDOW, CURCNT = range(12)
# per-partition occurrence pool (``ecgbyte.bpe._train_lists``): free chunk list, chunks handed out,
# set when a merge found its pair untracked in the partition (the driver rebuilds its lists)
FREE, NCHUNK, NEEDSCAN = 12, 13, 14
N_STATE = 15
UNTRACKED = -1  # ``thead`` of a pair whose occurrences are not listed (a rebuild lists them)
TRACKED = -2  # ``thead`` of a listed pair with no chunk yet (else the index of its first chunk)

# The hot kernels run without numba's reference counting (``_nrt=False``): with it, every array
# passed to a helper costs atomic increments in the inner loops (30x slower here). They therefore
# never allocate; the Python driver allocates and grows the arrays when a kernel asks for it.
_kernel = njit(cache=True, nogil=True, _nrt=False)
_inline = njit(cache=True, nogil=True, _nrt=False, inline="always")


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into cache (LLVM ``llvm.prefetch``; never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])  # write, keep, data
        return context.get_dummy_value()

    return sig, codegen


@_inline
def _slot(tkey, key):
    """The slot holding ``key``, or the empty slot where it belongs."""
    mask = tkey.shape[0] - 1
    h = key * _MULT
    i = (h ^ (h >> 29)) & mask
    while tkey[i] != key and tkey[i] != EMPTY:
        i = (i + 1) & mask
    return i


@_inline
def _key(a, b):
    return (np.int64(a) << 32) | np.int64(b)


@_inline
def _get(tkey, tcnt, thead, tstamp, st, a, b):
    """Slot of pair ``(a, b)``, created (count 0, empty list) if new."""
    key = _key(a, b)
    i = _slot(tkey, key)
    if tkey[i] == EMPTY:
        tkey[i] = key
        tcnt[i] = 0
        thead[i] = TRACKED  # a new pair occurs nowhere else yet: its (empty) list is complete
        tstamp[i] = -1
        st[USED] += 1
    return i


@_inline
def _add(tkey, tcnt, thead, tstamp, touched, st, a, b, delta):
    """Add ``delta`` to the count of ``(a, b)``; a pair whose count grows joins the touched list
    (to be queued with its new count: a count that only falls keeps its older, higher entry)."""
    i = _get(tkey, tcnt, thead, tstamp, st, a, b)
    tcnt[i] += delta
    if delta > 0 and tstamp[i] != st[NOUT]:
        tstamp[i] = st[NOUT]
        touched[st[NTOUCH]] = i
        st[NTOUCH] += 1


@_kernel
def rehash(tkey, tcnt, thead, touched, nkey, ncnt, nhead, nstamp, ntouched, st):
    """Copy the pair table into the larger empty arrays ``n*``, keeping the touched list."""
    for i in range(tkey.shape[0]):
        if tkey[i] != EMPTY:
            j = _slot(nkey, tkey[i])
            nkey[j] = tkey[i]
            ncnt[j] = tcnt[i]
            nhead[j] = thead[i]
    for j in range(st[NTOUCH]):
        i = _slot(nkey, tkey[touched[j]])
        nstamp[i] = st[NOUT]
        ntouched[j] = i


@_inline
def _heap_push(hcnt, hkey, st, cnt, key):
    """Push ``(cnt, key)``; the caller guarantees room. Best = highest count, then lowest key."""
    i = st[HSIZE]
    while i > 0:  # sift up while the parent ranks below
        par = (i - 1) >> 1
        if hcnt[par] > cnt or (hcnt[par] == cnt and hkey[par] < key):
            break
        hcnt[i] = hcnt[par]
        hkey[i] = hkey[par]
        i = par
    hcnt[i] = cnt
    hkey[i] = key
    st[HSIZE] += 1


@_inline
def _heap_pop(hcnt, hkey, st):
    n = st[HSIZE] - 1
    st[HSIZE] = n
    cnt, key = hcnt[0], hkey[0]
    c, k = hcnt[n], hkey[n]
    i = 0
    while True:  # sift the last entry down from the root
        ch = 2 * i + 1
        if ch >= n:
            break
        if ch + 1 < n and (hcnt[ch + 1] > hcnt[ch] or (hcnt[ch + 1] == hcnt[ch] and hkey[ch + 1] < hkey[ch])):
            ch += 1
        if hcnt[ch] < c or (hcnt[ch] == c and hkey[ch] > k):
            break
        hcnt[i] = hcnt[ch]
        hkey[i] = hkey[ch]
        i = ch
    hcnt[i] = c
    hkey[i] = k
    return cnt, key


@_inline
def _count(tkey, tcnt, key):
    """The corpus count of ``key``: the sum over the partitions' tables (rows of ``tkey``/``tcnt``)."""
    c = 0
    for q in range(tkey.shape[0]):
        i = _slot(tkey[q], key)
        if tkey[q, i] == key:
            c += tcnt[q, i]
    return c


@_inline
def _seen_before(tkey, q, key):
    """Whether a partition before ``q`` lists ``key`` in its table."""
    for r in range(q):
        if tkey[r, _slot(tkey[r], key)] == key:
            return True
    return False


@_kernel
def init_heap(tkey, tcnt, vlen, max_len, min_count, hcnt, hkey, st):
    """Heap of every pair counted at least ``min_count`` times whose token fits in ``max_len`` symbols.

    ``tkey``/``tcnt`` hold one table per partition (rows); a pair is queued once, with its total.
    """
    st[HSIZE] = 0
    for q in range(tkey.shape[0]):
        for i in range(tkey.shape[1]):
            key = tkey[q, i]
            if key == EMPTY or _seen_before(tkey, q, key):
                continue
            c = _count(tkey, tcnt, key)
            if c >= min_count and vlen[key >> 32] + vlen[key & 0xFFFFFFFF] <= max_len:
                _heap_push(hcnt, hkey, st, c, key)


@_inline
def _new_id(left, right, vlen, vhash, vpow, voff, vbuf, st):
    """Id of the string left+right: an existing id with the same symbols, else the next free one.

    The caller guarantees room in ``vbuf`` for the new string.
    """
    length = vlen[left] + vlen[right]
    h = vhash[left] * vpow[right] + vhash[right]
    nv = st[VSIZE]
    for i in range(nv):
        if vlen[i] == length and vhash[i] == h:
            same = True
            a, b = voff[i], voff[left]
            for j in range(vlen[left]):
                if vbuf[a + j] != vbuf[b + j]:
                    same = False
                    break
            a, b = voff[i] + vlen[left], voff[right]
            for j in range(vlen[right]):
                if not same or vbuf[a + j] != vbuf[b + j]:
                    same = False
                    break
            if same:
                return i
    used = st[VBUF]
    for j in range(vlen[left]):
        vbuf[used + j] = vbuf[voff[left] + j]
    for j in range(vlen[right]):
        vbuf[used + vlen[left] + j] = vbuf[voff[right] + j]
    vlen[nv] = length
    vhash[nv] = h
    vpow[nv] = vpow[left] * vpow[right]
    voff[nv] = used
    st[VBUF] = used + length
    st[VSIZE] = nv + 1
    st[MAXLEN] = max(st[MAXLEN], length)
    return nv
