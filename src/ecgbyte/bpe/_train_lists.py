"""Corpus layout and lazy occurrence lists of the BPE trainer (see :mod:`ecgbyte.bpe._train_kernels`).

N = corpus symbols; about 2 bytes per symbol of layout plus at most ``POOL_FRACTION`` int32 entries
per symbol of occurrence lists (4 and 2 bytes when ids or token lengths outgrow int16):

- ``sym`` (int16, or int32 when needed; see ``ecgbyte.bpe.trainer._sym_dtype``): the corpus laid
  out as ``S seq0 S seq1 S ... S`` where ``S = SENT`` separates sequences (no pair ever spans it).
  A token occupies positions ``[start, end)``: ``sym[start]`` is its id, the positions after it are
  negative: the last one holds the tail code ``-(length + 1)`` (<= -3), the others ``DEAD``. So the
  next token starts at ``p + vlen[sym[p]]`` and the previous one at ``p - 1`` if ``sym[p - 1] >= 0``,
  else at ``p + sym[p - 1] + 1``: no link arrays.
- Occurrence lists, lazy: a pair's list holds token starts where the pair occurred when they were
  listed; an entry whose tokens have changed since is *stale* and skipped when the list is walked
  (``sym[p] != x`` or the next token is not ``y``; once stale, an entry never becomes valid again,
  since tokens only grow). A token is listed under (its id, the next token's id) when the pair
  appears, except the last token of a sequence and the inner tokens of a run of equal tokens (a
  run is listed at its first token: a merge of ``(x, x)`` takes a whole run at a time). The lists
  live in a pool of int32 chunks per partition (``CHUNK`` ints: next chunk, fill, entries), headed
  in ``thead``. Not every pair is listed: ``thead`` is ``UNTRACKED`` for a pair whose list is not
  complete (rare pairs at the last rebuild, a pair whose list the pool could not extend). A merge of
  an untracked pair asks the driver to rebuild the partition's lists (``rebuild``): one pass over
  the partition listing every pair counted at least a threshold chosen to fit the pool.
- Weights: identical sequences are laid out once, side by side with the others of the same
  multiplicity; ``gstart``/``gw`` give where each group of equal weight starts and its weight.

numba caches a kernel by its own file only: after editing an inlined helper here, delete the
``*.nbi``/``*.nbc`` files under ``bpe/__pycache__`` so that the kernels of the other files compile
again.
"""

from __future__ import annotations

from numba import njit, prange

from ecgbyte.bpe._train_table import (
    EMPTY,
    FREE,
    NCHUNK,
    TRACKED,
    UNTRACKED,
    _get,
    _inline,
    _kernel,
    _key,
    _slot,
)

SENT = -1  # sequence separator in ``sym``
DEAD = -2  # a position inside a merged token
CHUNK = 32  # ints per pool chunk: next chunk (-1: none), fill, then CHUNK - 2 entries


@_inline
def _prev(sym, p):
    """Start of the token before the token starting at ``p`` (-1 at a sequence start)."""
    j = p - 1
    s = sym[j]
    if s == SENT:
        return -1
    if s >= 0:
        return j
    return p + s + 1  # a tail code: s = -(length + 1)


@_inline
def _next(sym, vlen, p):
    """Start of the token after the token starting at ``p`` (-1 at a sequence end)."""
    j = p + vlen[sym[p]]
    return -1 if sym[j] == SENT else j


@_inline
def _free_chunks(pool, st, c):
    """Return the chunk chain starting at ``c`` to the partition's free list."""
    while c >= 0:
        nxt = pool[c * CHUNK]
        pool[c * CHUNK] = st[FREE]
        st[FREE] = c
        c = nxt


@_inline
def _append(pool, st, thead, i, p):
    """List token start ``p`` under the pair in table slot ``i`` if that pair is tracked. When the
    pool has no chunk left, the pair's list is dropped instead (it becomes untracked)."""
    h = thead[i]
    if h == UNTRACKED:
        return
    if h >= 0:
        f = pool[h * CHUNK + 1]
        if f < CHUNK - 2:
            pool[h * CHUNK + 2 + f] = p
            pool[h * CHUNK + 1] = f + 1
            return
    c = st[FREE]
    if c >= 0:
        st[FREE] = pool[c * CHUNK]
    elif (st[NCHUNK] + 1) * CHUNK <= pool.shape[0]:
        c = st[NCHUNK]
        st[NCHUNK] = c + 1
    else:  # pool full: this pair is listed no more
        if h >= 0:
            _free_chunks(pool, st, h)
        thead[i] = UNTRACKED
        return
    pool[c * CHUNK] = h if h >= 0 else -1
    pool[c * CHUNK + 1] = 1
    pool[c * CHUNK + 2] = p
    thead[i] = c


@_inline
def _pop(pool, st, thead, i):
    """Take an entry off the list of slot ``i`` (-1 when the list is empty; it stays tracked)."""
    while True:
        h = thead[i]
        if h < 0:
            return -1
        f = pool[h * CHUNK + 1]
        if f > 0:
            pool[h * CHUNK + 1] = f - 1
            return pool[h * CHUNK + 1 + f]
        nxt = pool[h * CHUNK]
        pool[h * CHUNK] = st[FREE]
        st[FREE] = h
        thead[i] = nxt if nxt >= 0 else TRACKED


@_inline
def _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, t):
    """List token ``t`` under its pair, unless it ends its sequence or a run's start stands for it
    (an inner token of a run of equal tokens)."""
    c = sym[t + vlen[sym[t]]]
    if c == SENT:
        return
    x = sym[t]
    if c == x:
        o = _prev(sym, t)
        if o >= 0 and sym[o] == x:
            return
    _append(pool, st, thead, _get(tkey, tcnt, thead, tstamp, st, x, c), t)


@_inline
def _group(gstart, p):
    """Index of the weight group holding position ``p`` (groups of equal weight, ``gstart`` sorted)."""
    lo, hi = 0, gstart.shape[0] - 1
    while lo < hi:  # the last group starting at or before p
        mid = (lo + hi + 1) >> 1
        if gstart[mid] <= p:
            lo = mid
        else:
            hi = mid - 1
    return lo


@_inline
def _weight(gstart, gw, p):
    """Multiplicity of the sequence holding position ``p``."""
    return gw[_group(gstart, p)]


@_kernel
def init_state(sym, tkey, tcnt, thead, tstamp, st, gstart, gw, n_sym, lo, hi, dcnt):
    """Pair counts of one partition ``sym[lo : hi + 1]`` of the laid-out corpus (``sym[lo]`` and
    ``sym[hi]`` are sentinels), into that partition's table, every pair untracked (:func:`rebuild`
    lists them).

    One forward pass with the pairs of the ``n_sym``-symbol alphabet in the dense scratch array
    ``dcnt`` (int64, ``[n_sym * n_sym]``). The table must be empty and hold more than twice
    ``n_sym * n_sym`` slots.
    """
    n = sym.shape[0]
    for d in range(n_sym * n_sym):
        dcnt[d] = 0
    g = _group(gstart, lo)
    w = gw[g]
    g_next = gstart[g + 1] if g + 1 < gw.shape[0] else n  # where the next weight group starts
    run = 1  # length of the run of equal symbols ending at p + 1
    b = sym[lo]
    for p in range(lo, hi):
        if p >= g_next:
            g += 1
            w = gw[g]
            g_next = gstart[g + 1] if g + 1 < gw.shape[0] else n
        a = b
        b = sym[p + 1]
        if a < 0 or b < 0:
            run = 1
            continue
        if a == b:
            run += 1
            if run % 2 == 0:  # a run of k equal symbols holds k // 2 pairs
                dcnt[a * n_sym + b] += w
        else:
            run = 1
            dcnt[a * n_sym + b] += w
    for d in range(n_sym * n_sym):
        if dcnt[d] > 0:
            i = _get(tkey, tcnt, thead, tstamp, st, d // n_sym, d % n_sym)
            tcnt[i] = dcnt[d]
            thead[i] = UNTRACKED


@njit(cache=True, nogil=True, parallel=True)
def init_parts(sym, tkey, tcnt, thead, tstamp, pst, gstart, gw, n_sym, bounds, dcnt):
    """:func:`init_state` for every partition (``bounds[q] = (lo, hi)``), one per thread."""
    for q in prange(tkey.shape[0]):
        init_state(
            sym, tkey[q], tcnt[q], thead[q], tstamp[q], pst[q], gstart, gw, n_sym,
            bounds[q, 0], bounds[q, 1], dcnt[q],
        )  # fmt: skip


@_kernel
def rebuild(sym, vlen, pool, tkey, tcnt, thead, st, lo, hi, threshold):
    """List anew, in one partition ``sym[lo : hi + 1]``, every pair counted at least ``threshold``
    times in it (the others become untracked). Returns the entries listed (the caller sizes the
    threshold so that they fit the pool; a pair that does not fit becomes untracked)."""
    st[FREE] = -1
    st[NCHUNK] = 0
    for i in range(tkey.shape[0]):
        if tkey[i] != EMPTY:
            thead[i] = TRACKED if tcnt[i] >= threshold else UNTRACKED
    listed = 0
    prev = SENT
    t = lo + 1
    while t < hi:
        x = sym[t]
        if x == SENT:
            prev = SENT
            t += 1
            continue
        u = t + vlen[x]
        c = sym[u]
        if c != SENT and not (c == x and prev == x):
            i = _slot(tkey, _key(x, c))
            if thead[i] != UNTRACKED:
                _append(pool, st, thead, i, t)
                listed += 1
        prev = x
        t = u
    return listed
