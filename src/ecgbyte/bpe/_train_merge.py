"""One merge of the BPE trainer: every occurrence of a pair, in one partition or in all at once.

:func:`merge_part` merges every occurrence of the pair in one partition (its own pair table, lists
and ``st`` row); :func:`merge_parts` runs it on every partition, one per thread. The driver loop
that picks the pairs is :func:`ecgbyte.bpe._train_kernels.train_chunk`; the layout and lists are
in :mod:`ecgbyte.bpe._train_lists`, the pair table in :mod:`ecgbyte.bpe._train_table`.

A merge walks its pair's list, skipping stale entries; for each occurrence (for an ``(x, x)``
pair: each maximal run, merged left to right) it rewrites the tokens and lists the tokens whose
(previous, own, next) ids changed under their new pairs, by the listing rule (their old entries
go stale). Counts change only around the
occurrence: ``a x y b -> a X b`` loses ``ax``, ``xy``, ``yb`` and gains ``aX``, ``Xb``, except that
when ``a == x`` (``b == y``) the run of x's (y's) loses one token, which changes its ``k // 2``
count only if k was even (a walk over that run tells). A run of k x's becomes k // 2 X's (and an x
if k is odd). If the new token's string already existed (a reused id), it may join a neighbouring
run: then the kernel recounts a window of whole runs around the change instead (``_scan``). The
work is proportional to the occurrences and the runs next to them, never to the corpus.

numba caches a kernel by its own file only: after editing an inlined helper of another file, delete
the ``*.nbi``/``*.nbc`` files under ``bpe/__pycache__`` so that these kernels compile again.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ecgbyte.bpe._train_lists import (
    CHUNK,
    DEAD,
    _next,
    _pop,
    _prev,
    _relist,
    _weight,
)
from ecgbyte.bpe._train_table import (
    ALWAYS_WINDOW,
    NEEDSCAN,
    UNTRACKED,
    USED,
    _add,
    _inline,
    _kernel,
    _prefetch,
    _slot,
)

_PF = 12  # prefetch distance along an occurrence list, in entries

# train_chunk / merge_part return codes: go on / stop (no pair left) / the caller must grow an array
# (or, NEED_SCAN, rebuild a partition's lists) and call again
GO_ON, STOP, NEED_TABLE, NEED_HEAP, NEED_VBUF, NEED_SCAN = range(6)


@_inline
def _scan(sym, vlen, s, e, delta, tkey, tcnt, thead, tstamp, touched, st):
    """Add ``delta`` times the counts of the pairs between tokens ``s..e`` (runs counted k // 2)."""
    t = s
    run = 1
    while t != e:
        u = t + vlen[sym[t]]
        if sym[u] == sym[t]:
            run += 1
        else:
            if run >= 2:
                _add(
                    tkey,
                    tcnt,
                    thead,
                    tstamp,
                    touched,
                    st,
                    sym[t],
                    sym[t],
                    delta * (run // 2),
                )
            _add(tkey, tcnt, thead, tstamp, touched, st, sym[t], sym[u], delta)
            run = 1
        t = u
    if run >= 2:
        _add(tkey, tcnt, thead, tstamp, touched, st, sym[t], sym[t], delta * (run // 2))


@_inline
def _merge_occurrence(p, x, y, new, sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, st, w):
    """Merge the occurrence of ``(x, y)`` at token ``p`` (for x == y: the whole run around ``p``)."""
    t0 = p
    k = 2
    tlast = p + vlen[x]
    if x == y:  # the maximal run of x around p, merged left to right
        while True:
            u = _prev(sym, t0)
            if u < 0 or sym[u] != x:
                break
            t0 = u
        k = 1
        tlast = t0
        step = vlen[x]  # equal tokens: the next one starts vlen[x] further (no dependent loads)
        while sym[tlast + step] == x:
            tlast += step
            k += 1
    o = _prev(sym, t0)
    r = _next(sym, vlen, tlast)
    a = sym[o] if o >= 0 else DEAD
    b = sym[r] if r >= 0 else DEAD
    # The new token can join a neighbouring run only if its string already existed (an id reused):
    # then recount a window of whole runs; otherwise update the few counts that change directly.
    generic = a == new or b == new or st[ALWAYS_WINDOW] != 0  # (the tests force the window path)
    if generic:  # window: the run of equal tokens left of the change .. the one right of it
        s = t0
        if o >= 0:
            s = o
            while True:
                u = _prev(sym, s)
                if u < 0 or sym[u] != a:
                    break
                s = u
        e = tlast
        if r >= 0:
            e = r
            while True:
                u = _next(sym, vlen, e)
                if u < 0 or sym[u] != b:
                    break
                e = u
        _scan(sym, vlen, s, e, -w, tkey, tcnt, thead, tstamp, touched, st)
    elif x == y:  # a run of k x's between a and b (both != x): it held k // 2 pairs
        if o >= 0:
            _add(tkey, tcnt, thead, tstamp, touched, st, a, x, -w)
        _add(tkey, tcnt, thead, tstamp, touched, st, x, x, -w * (k // 2))
        if r >= 0 and k % 2 == 0:
            _add(tkey, tcnt, thead, tstamp, touched, st, x, b, -w)
    else:  # a x y b: a run of x's ending at p loses p, one of y's starting at q loses q
        if a == x:
            run = 1
            u = o
            step = vlen[x]
            while u > 0 and sym[u] == x:  # (a token x at u ends where the next one starts)
                run += 1
                u -= step
            if run % 2 == 0:
                _add(tkey, tcnt, thead, tstamp, touched, st, x, x, -w)
        elif o >= 0:
            _add(tkey, tcnt, thead, tstamp, touched, st, a, x, -w)
        _add(tkey, tcnt, thead, tstamp, touched, st, x, y, -w)
        if b == y:
            run = 1
            u = r
            step = vlen[y]
            while sym[u] == y:
                run += 1
                u += step
            if run % 2 == 0:
                _add(tkey, tcnt, thead, tstamp, touched, st, y, y, -w)
        elif r >= 0:
            _add(tkey, tcnt, thead, tstamp, touched, st, y, b, -w)
    # the tokens whose (previous, own, next) symbols change are listed again below (their old
    # entries go stale)
    relist_r = r >= 0 and (b == new or (x != y and b == y))
    # rewrite the tokens: (t0, t1) -> new, (t2, t3) -> new, ...
    t = t0
    last = t0
    lx = vlen[x]
    ln = vlen[new]
    for _ in range(k // 2):
        sym[t] = new
        sym[t + lx] = DEAD
        sym[t + ln - 1] = -(ln + 1)  # tail code
        last = t
        t += ln
    # and put them back where the listing rule says (a run's inner tokens stay out)
    if o >= 0:
        _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, o)
    _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, t0)
    _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, last)
    if k % 2 == 1:
        last = t  # the x left over
        _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, last)
    if relist_r:
        _relist(sym, vlen, pool, tkey, tcnt, thead, tstamp, st, r)
    if generic:
        if r < 0:
            e = last
        _scan(sym, vlen, s, e, w, tkey, tcnt, thead, tstamp, touched, st)
        return
    if o >= 0:
        _add(tkey, tcnt, thead, tstamp, touched, st, a, new, w)
    m = k // 2  # new tokens, then an x if k is odd
    if m >= 2:
        _add(tkey, tcnt, thead, tstamp, touched, st, new, new, w * (m // 2))
    if k % 2 == 1:
        _add(tkey, tcnt, thead, tstamp, touched, st, new, x, w)
    elif r >= 0:
        _add(tkey, tcnt, thead, tstamp, touched, st, new, b, w)


@_inline
def _merge_part(sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new):
    """Merge every occurrence of pair ``key`` into token ``new`` in one partition (its own table,
    lists and ``st`` row). Returns GO_ON; NEED_TABLE (grow, call again: it resumes, since each
    occurrence leaves the list when it is taken); or NEED_SCAN (``st[NEEDSCAN]`` set): the pair is
    untracked here, the driver rebuilds this partition's lists and calls again."""
    x = np.int32(key >> 32)
    y = np.int32(key & 0xFFFFFFFF)
    pi = _slot(tkey, key)
    if tkey[pi] != key or tcnt[pi] == 0:
        return GO_ON  # the pair does not occur in this partition
    if thead[pi] == UNTRACKED:
        st[NEEDSCAN] = 1
        return NEED_SCAN
    lx = vlen[x]
    while True:
        # an occurrence (a whole run for x == y) creates at most 4 new pairs: (a, X), (X, X),
        # (X, x) and (x, b) or (X, b), with a, b its neighbours
        if 2 * (st[USED] + 8) > tkey.shape[0]:
            return NEED_TABLE
        h = thead[pi]
        if h >= 0:  # prefetch the corpus at an entry further down the chunk
            f = pool[h * CHUNK + 1]
            if f > _PF:
                _prefetch(sym, pool[h * CHUNK + 1 + f - _PF])
        p = _pop(pool, st, thead, pi)
        if p < 0:
            break
        if sym[p] != x or sym[p + lx] != y:
            continue  # stale: the tokens there changed since p was listed
        w = _weight(gstart, gw, p)
        _merge_occurrence(p, x, y, new, sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, st, w)
    return GO_ON


@_kernel
def merge_part(sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new):
    """:func:`_merge_part` as a function of its own, called per partition (compiled once)."""
    return _merge_part(sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new)


@njit(cache=True, nogil=True, parallel=True)
def merge_parts(sym, vlen, pool, tkey, tcnt, thead, tstamp, touched, pst, gstart, gw, key, new, codes):
    """:func:`merge_part` on every partition, one per thread (numba's thread pool); codes per partition."""
    for q in prange(tkey.shape[0]):
        codes[q] = merge_part(
            sym,
            vlen,
            pool[q],
            tkey[q],
            tcnt[q],
            thead[q],
            tstamp[q],
            touched[q],
            pst[q],
            gstart,
            gw,
            key,
            new,
        )
