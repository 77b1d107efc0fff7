"""Corpus layout and occurrence lists of the BPE trainer (see :mod:`ecgbyte.bpe._train_kernels`).

N = corpus symbols, 10 bytes per symbol (12 when ids or token lengths outgrow int16):

- ``sym`` (int16, or int32 when needed; see ``ecgbyte.bpe.trainer._sym_dtype``): the corpus laid out as ``S seq0 S seq1 S ... S`` where ``S = SENT`` separates sequences
  (no pair ever spans it). A token occupies positions ``[start, end)``: ``sym[start]`` is its id,
  the positions after it are negative: the last one holds the tail code ``-(length + 1)`` (<= -3),
  the others ``DEAD``. So the next token starts at ``p + vlen[sym[p]]`` and the previous one at
  ``p - 1`` if ``sym[p - 1] >= 0``, else at ``p + sym[p - 1] + 1``: no link arrays.
- ``onext``/``oprev`` (int32): a doubly linked list per pair of the token starts where the pair occurs,
  headed in ``thead`` (the pair table, :mod:`ecgbyte.bpe._train_table`). A token is listed under
  (its id, the next token's id), except the last token of a sequence and the inner tokens of a run
  of equal tokens: a run is listed once, at its first token, since a merge of ``(x, x)`` takes a
  whole run at a time. ``oprev = NOLIST`` marks an unlisted token. Exact at all times, so a merge
  walks only its own occurrences.
- Weights: identical sequences are laid out once, side by side with the others of the same
  multiplicity; ``gstart``/``gw`` give where each group of equal weight starts and its weight.

Here: walking the layout (``_prev``, ``_next``), keeping the lists (``_delist``, ``_relist``), and
building the lists and counts of each partition (``init_state``, ``init_parts``). numba caches a
kernel by its own file only: after editing an inlined helper here, delete the ``*.nbi``/``*.nbc``
files under ``bpe/__pycache__`` so that the kernels of the other files compile again.
"""

from __future__ import annotations

from numba import njit, prange

from ecgbyte.bpe._train_table import _get, _inline, _kernel, _key, _prefetch, _slot

SENT = -1  # sequence separator in ``sym``
DEAD = -2  # a position inside a merged token
NOLIST = -2  # ``oprev`` of a token start that is in no occurrence list


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
