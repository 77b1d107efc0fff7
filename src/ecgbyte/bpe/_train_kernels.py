"""Numba kernels of the incremental BPE trainer: arrays in, arrays out; no validation, I/O or printing.

:mod:`ecgbyte.bpe.trainer` validates the corpus, lays it out and calls these; the pure-Python spec
they must agree with is :mod:`ecgbyte.bpe.reference`.

Data structures (N = corpus symbols, three int32 per symbol: 12 bytes per symbol in all)
-----------------------------------------------------------------------------------------
- ``sym``: the corpus laid out as ``S seq0 S seq1 S ... S`` where ``S = SENT`` separates sequences
  (no pair ever spans it). A token occupies positions ``[start, end)``: ``sym[start]`` is its id,
  the positions after it are negative: the last one holds the tail code ``-(length + 1)`` (<= -3),
  the others ``DEAD``. So the next token starts at ``p + vlen[sym[p]]`` and the previous one at
  ``p - 1`` if ``sym[p - 1] >= 0``, else at ``p + sym[p - 1] + 1``: no link arrays.
- ``onext``/``oprev``: a doubly linked list per pair of the token starts where the pair occurs,
  headed in ``thead``. A token is listed under (its id, the next token's id), except the last
  token of a sequence and the inner tokens of a run of equal tokens: a run is listed once, at its
  first token, since a merge of ``(x, x)`` takes a whole run at a time. ``oprev = NOLIST`` marks
  an unlisted token. Exact at all times, so a merge walks only its own occurrences.
- Pair table (one per partition, below): open addressing, key ``left << 32 | right`` (int64),
  weighted count ``tcnt`` (non-overlapping: a run of k equal tokens counts k // 2), list head
  ``thead``.
- Priority queue: a lazy max-heap of ``(count, key)``, best = highest count then lowest key (the
  lowest ``(left, right)``), holding an upper bound of every pair's count: pairs are queued when
  their count grows, and an entry found above its pair's count is queued again with the count.

Partitions and threads
----------------------
The corpus is cut at sequence boundaries into partitions, one per thread. Each partition has its
own pair table (counts and list heads of the pairs in its part) and its own occurrence lists, so
merging a pair in one partition never touches another's memory: a frequent pair is merged in all
partitions at once on numba's thread pool (``merge_parts``, a ``prange`` over partitions), a rare
one in each partition in turn. A pair's count is the sum over the partitions' tables; the queue,
the vocabulary and the merge order are global, so the merges are the same whatever the number of
partitions.

A merge walks its pair's list; for each occurrence (for an ``(x, x)`` pair: each maximal run,
merged left to right) it takes the tokens whose (previous, own, next) ids change out of their
lists, rewrites the tokens and lists them again by the rule above. Counts change only around the
occurrence: ``a x y b -> a X b`` loses ``ax``, ``xy``, ``yb`` and gains ``aX``, ``Xb``, except that
when ``a == x`` (``b == y``) the run of x's (y's) loses one token, which changes its ``k // 2``
count only if k was even (a walk over that run tells). A run of k x's becomes k // 2 X's (and an x if k is odd). If the new token's string
already existed (a reused id), it may join a neighbouring run: then the kernel recounts a window of
whole runs around the change instead (``_scan``). The work is proportional to the occurrences and
the runs next to them, never to the corpus.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ecgbyte.bpe._train_table import (  # noqa: F401 (the driver reads these here too)
    _HBASE,
    ALWAYS_WINDOW,
    CURCNT,
    CURKEY,
    CURNEW,
    EMPTY,
    HSIZE,
    MAXLEN,
    N_STATE,
    NOUT,
    NTOUCH,
    PHASE,
    USED,
    VBUF,
    VSIZE,
    _add,
    _count,
    _get,
    _heap_pop,
    _heap_push,
    _inline,
    _kernel,
    _key,
    _new_id,
    _prefetch,
    _slot,
    init_heap,
    rehash,
)

SENT = -1  # sequence separator in ``sym``
DEAD = -2  # a position inside a merged token
NOLIST = -2  # ``oprev`` of a token start that is in no occurrence list
_PF_FAR, _PF_NEAR = 16, 8  # prefetch distances along an occurrence list, in occurrences

# train_chunk / merge_part return codes: go on / stop (no pair left) / the caller must grow an array
# and call again
GO_ON, STOP, NEED_TABLE, NEED_HEAP, NEED_VBUF = range(5)


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
def _push(onext, oprev, thead, i, p):
    n = thead[i]
    onext[p] = n
    oprev[p] = -1
    if n >= 0:
        oprev[n] = p
    thead[i] = p


@_inline
def _prefetch_neighbours(onext, oprev, t):
    """Prefetch the list links that taking token ``t`` out of its list will write."""
    if t < 0 or oprev[t] == NOLIST:
        return
    if oprev[t] >= 0:
        _prefetch(onext, oprev[t])
    if onext[t] >= 0:
        _prefetch(oprev, onext[t])


@_inline
def _delist(sym, vlen, onext, oprev, tkey, thead, t):
    """Take token ``t`` out of its pair's occurrence list if it is in one (call before ``sym`` changes)."""
    a = oprev[t]
    if a == NOLIST:
        return
    n = onext[t]
    if a >= 0:
        onext[a] = n
    else:
        thead[_slot(tkey, _key(sym[t], sym[t + vlen[sym[t]]]))] = n
    if n >= 0:
        oprev[n] = a
    oprev[t] = NOLIST


@_inline
def _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, t):
    """Put token ``t`` (not in a list) into its pair's list, unless it ends its sequence or a run's start
    stands for it (an inner token of a run of equal tokens)."""
    if oprev[t] != NOLIST:
        return
    c = sym[t + vlen[sym[t]]]
    if c == SENT:
        return
    x = sym[t]
    if c == x:
        o = _prev(sym, t)
        if o >= 0 and sym[o] == x:
            return
    _push(onext, oprev, thead, _get(tkey, tcnt, thead, tstamp, st, x, c), t)


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
def init_state(
    sym,
    onext,
    oprev,
    tkey,
    tcnt,
    thead,
    tstamp,
    st,
    gstart,
    gw,
    n_sym,
    lo,
    hi,
    dcnt,
    dhead,
    dtail,
):
    """Links, pair counts and occurrence lists of one partition ``sym[lo : hi + 1]`` of the laid-out
    corpus (int32; ``sym[lo]`` and ``sym[hi]`` are sentinels), into that partition's table.

    One forward pass with the pairs of the ``n_sym``-symbol alphabet in dense scratch arrays
    ``dcnt`` (int64), ``dhead``, ``dtail`` (int32), all ``[n_sym * n_sym]``; so each list is in
    increasing position order. The table arrays must be empty (``tkey`` all EMPTY) and hold more
    than twice ``n_sym * n_sym`` slots.
    """
    n = sym.shape[0]
    for d in range(n_sym * n_sym):
        dcnt[d] = 0
        dhead[d] = -1
        dtail[d] = -1
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
            if a >= 0:
                oprev[p] = NOLIST  # the last token of a sequence
            continue
        d = a * n_sym + b
        if a == b:
            run += 1
            if run % 2 == 0:  # a run of k equal symbols holds k // 2 pairs
                dcnt[d] += w
            if run > 2:  # inside a run: only its start is listed
                oprev[p] = NOLIST
                continue
        else:
            run = 1
            dcnt[d] += w
        tl = dtail[d]
        oprev[p] = tl
        if tl >= 0:
            onext[tl] = p
        else:
            dhead[d] = p
        dtail[d] = p
    for d in range(n_sym * n_sym):
        if dhead[d] >= 0:
            onext[dtail[d]] = -1
            i = _get(tkey, tcnt, thead, tstamp, st, d // n_sym, d % n_sym)
            tcnt[i] = dcnt[d]
            thead[i] = dhead[d]


@njit(cache=True, nogil=True, parallel=True)
def init_parts(
    sym, onext, oprev, tkey, tcnt, thead, tstamp, pst, gstart, gw, n_sym, bounds, dcnt, dhead, dtail
):
    """:func:`init_state` for every partition (``bounds[q] = (lo, hi)``), one per thread."""
    for q in prange(tkey.shape[0]):
        init_state(
            sym, onext, oprev, tkey[q], tcnt[q], thead[q], tstamp[q], pst[q], gstart, gw, n_sym,
            bounds[q, 0], bounds[q, 1], dcnt[q], dhead[q], dtail[q],
        )  # fmt: skip


@_inline
def _merge_occurrence(p, x, y, new, sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, st, w):
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
    # take the tokens whose (previous, own, next) symbols change out of their occurrence lists
    relist_r = r >= 0 and (b == new or (x != y and b == y))
    if o >= 0:
        _delist(sym, vlen, onext, oprev, tkey, thead, o)
    _delist(sym, vlen, onext, oprev, tkey, thead, t0)
    _delist(sym, vlen, onext, oprev, tkey, thead, tlast)
    if relist_r:
        _delist(sym, vlen, onext, oprev, tkey, thead, r)
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
        _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, o)
    _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, t0)
    _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, last)
    if k % 2 == 1:
        last = t  # the x left over
        _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, last)
    if relist_r:
        _relist(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, st, r)
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
def _touched_before(tkey, tstamp, q, key, n):
    """Whether a partition before ``q`` changed the count of ``key`` in merge ``n`` (then it was queued)."""
    for r in range(q):
        i = _slot(tkey[r], key)
        if tkey[r, i] == key and tstamp[r, i] == n:
            return True
    return False


@_inline
def _merge_part(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new):
    """Merge every occurrence of pair ``key`` into token ``new`` in one partition (its own table,
    lists and ``st`` row). Returns GO_ON, or NEED_TABLE (grow, call again: it resumes, since each
    merged occurrence leaves the list)."""
    x = np.int32(key >> 32)
    y = np.int32(key & 0xFFFFFFFF)
    pi = _slot(tkey, key)
    if tkey[pi] != key:
        return GO_ON  # the pair does not occur in this partition
    # Two pointers run ahead along the list (which changes only at its head during the walk) and
    # prefetch what the occurrences there will touch: the corpus around them (_PF_FAR ahead),
    # then the list neighbours of the tokens left and right of them.
    far = thead[pi]
    near = far
    for _ in range(_PF_FAR):
        if far >= 0:
            far = onext[far]
    for _ in range(_PF_NEAR):
        if near >= 0:
            near = onext[near]
    while thead[pi] >= 0:
        p = thead[pi]
        if far >= 0:
            _prefetch(sym, far)
            _prefetch(onext, far)
            _prefetch(oprev, far)
            far = onext[far]
        if near >= 0:
            _prefetch_neighbours(onext, oprev, _prev(sym, near))
            _prefetch_neighbours(onext, oprev, near + vlen[x])
            near = onext[near]
        # an occurrence (a whole run for x == y) creates at most 4 new pairs: (a, X), (X, X),
        # (X, x) and (x, b) or (X, b), with a, b its neighbours
        if 2 * (st[USED] + 8) > tkey.shape[0]:
            return NEED_TABLE
        w = _weight(gstart, gw, p)
        _merge_occurrence(p, x, y, new, sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, st, w)
    return GO_ON


@_kernel
def merge_part(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new):
    """:func:`_merge_part` as a function of its own, called per partition (compiled once)."""
    return _merge_part(sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, st, gstart, gw, key, new)


@njit(cache=True, nogil=True, parallel=True)
def merge_parts(
    sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, pst, gstart, gw, key, new, codes
):
    """:func:`merge_part` on every partition, one per thread (numba's thread pool); codes per partition."""
    for q in prange(tkey.shape[0]):
        codes[q] = merge_part(
            sym,
            vlen,
            onext,
            oprev,
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


@_kernel
def train_chunk(
    sym, onext, oprev, tkey, tcnt, thead, tstamp, touched, pst, hcnt, hkey,
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
    NEED_HEAP / NEED_VBUF: the caller grows that array and calls again; ``st[PHASE]`` resumes the
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
                if 0 < now < cnt:  # it fell (falls are not queued when they happen): queue it now
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
                    sym, vlen, onext, oprev, tkey, tcnt, thead, tstamp, touched, pst,
                    gstart, gw, st[CURKEY], np.int32(st[CURNEW]), codes,
                )  # fmt: skip
                for q in range(n_parts):
                    if codes[q] != GO_ON:
                        return codes[q]
            else:
                for q in range(n_parts):
                    code = merge_part(
                        sym, vlen, onext, oprev, tkey[q], tcnt[q], thead[q], tstamp[q], touched[q], pst[q],
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
                    if c > 0:
                        _heap_push(hcnt, hkey, st, c, k)
            st[PHASE] = 0
