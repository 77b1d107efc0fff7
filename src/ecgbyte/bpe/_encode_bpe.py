"""Rank-ordered BPE kernel (``bpe_encode_flat``) behind :func:`ecgbyte.bpe.encoders.encode_bpe`.

Arrays in, arrays out: no validation, I/O or Python objects here (tiktoken's ``lib.rs`` split);
the wrappers in :mod:`ecgbyte.bpe.encoders` check the inputs, build the tables and call it. It is
``nogil`` so that batch encoding can run on several threads. Its parts: the pair table in
:mod:`ecgbyte.bpe._encode_table`, the bucket queue in :mod:`ecgbyte.bpe._encode_queue`; here the
runs of one sequence and the two merge steps that rewrite them. The greedy encoder is in
:mod:`ecgbyte.bpe._encode_greedy`.

The algorithm is exactly HF ``tokenizers``' (``Word::merge_all``): repeatedly merge the adjacent
pair with the lowest merge rank, the leftmost one among equal ranks. HF keeps a binary heap of
``(rank, position)`` over single tokens; we keep the sequence as a linked list of *runs* (``k``
copies of one token) and a bucket queue: one FIFO list of entries per rank, each bucket drained
in ascending position order. An entry stands either for the pairs inside a run (pair ``(x, x)``,
:func:`_merge_run`) or for the pair across the boundary between two runs (:func:`_merge_pair`);
entries are not removed when the runs change, they are checked when drained.

Merging the pair of rank ``r`` never creates another pair of rank ``r`` (the new token is longer
than both parts), so draining a bucket is exact. ECG symbols come mostly in runs (87% of
neighbouring symbols are equal in the benchmark corpus). A run of ``k`` tokens ``x`` is merged by
the rank of ``(x, x)`` in one step: it becomes ``k // 2`` tokens ``z`` followed by one ``x`` when
``k`` is odd, which is what the ``k // 2`` pairwise merges, leftmost first, give. Those merges
create, in this order, ``(w, z)`` with the token ``w`` on the left, ``(z, x)`` and then
``(z, z)``; if one of them ranks below ``r`` and is created before the last merge, HF would merge
it in between, so then only the first pair merges and the rest of the run is taken up again after
that lower rank. When a merge creates a pair of *lower* rank (possible only when two merges
produce the same string, see ``Merges.ids``), the rest of the bucket is put back and the lower
rank runs first, as the heap would do.

New tokens ``z`` next to a run of ``z``'s on their left join it (:func:`_join`; a run of ``z``'s
on their right is impossible, see :func:`_push_right_pair`). The pair on the left boundary of
a run of two or more ``x`` gets no entry when ``(x, x)`` ranks lower: the run merges first and
replaces its first ``x``, so that pair never merges. If the run shrinks to one token before (its
last ``x`` merged with the token on its right), the entry is made then. Each run and each removed
token cost O(1) amortised (a few hash probes and bucket entries) plus the sort of a bucket's
positions when they come out of order.

State of one sequence, ``runs = (sym, cnt, nxt, prv)``, all indexed by symbol position: a run of
``cnt[p]`` copies of token ``sym[p]`` starts at ``p`` (``sym[p] == -1``: none does any more);
``nxt[p]``/``prv[p]`` are the neighbouring runs (-1: none); neighbouring runs hold different
tokens. An entry at ``p`` in the bucket of merge ``(a, b)`` stands for the pairs inside the run at
``p`` when ``a == b``, else for the pair across the boundary between the run at ``p`` and the run
before it. The helpers also take the pair table ``pt`` (see :func:`~ecgbyte.bpe._encode_table._lookup`)
and the queue ``q, ne, low`` (see :mod:`ecgbyte.bpe._encode_queue`); the pushes return ``(ne, low)``.

The helpers are compiled without numba's reference counting and inlined by LLVM into the kernel
(``_helper``). With numba's own inlining (``inline="always"``) and its reference counting, every
array a helper takes costs two atomic operations per call, which made the kernel 2-3x slower;
moving the loop into a kernel of its own without reference counting costs 6%, since LLVM then
no longer knows that the scratch arrays (allocated here) do not overlap.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ecgbyte.bpe._encode_queue import _drain, _lowest, _push, _push_left_pair, _requeue
from ecgbyte.bpe._encode_table import _lookup

_helper = njit(cache=True, nogil=True, _nrt=False, forceinline=True)


@_helper
def _load_runs(codes, start, n, first, self_rank, n_alpha, runs, q, ne, lo):
    """The maximal runs of ``codes[start : start + n]`` and the entries of their pairs."""
    sym, cnt, nxt, prv = runs
    last = -1
    i = 0
    while i < n:
        c = codes[start + i]
        j = i + 1
        while j < n and codes[start + j] == c:
            j += 1
        sym[i] = c
        cnt[i] = j - i
        prv[i] = last
        rc = self_rank[c] if j - i >= 2 else -1
        ne, lo = _push(rc, i, q, ne, lo)
        if last != -1:
            nxt[last] = i
            ne, lo = _push_left_pair(first[sym[last] * n_alpha + c], rc, i, q, ne, lo)
        last = i
        i = j
    nxt[last] = -1
    return ne, lo


@_helper
def _put_run(p, x, k, left, right, runs):
    """Make ``p`` the start of a run of ``k`` tokens ``x`` between the runs ``left`` and ``right``
    (-1: none)."""
    sym, cnt, nxt, prv = runs
    sym[p] = x
    cnt[p] = k
    prv[p] = left
    nxt[left] = p
    nxt[p] = right
    if right != -1:
        prv[right] = p


@_helper
def _join(w, h, rzz, runs, q, ne, low):
    """The run at ``h``, ``cnt[h]`` new z's (``sym[h]`` is not read), joins the run of z's at ``w``
    on its left. ``rzz``: the rank of ``(z, z)``, pushed if ``w`` becomes a run. Joins go leftwards
    only: no run of z's waits on the right of new z's (see :func:`_push_right_pair`).
    """
    sym, cnt, nxt, prv = runs
    old = cnt[w]
    cnt[w] = old + cnt[h]
    nn = nxt[h]
    nxt[w] = nn
    if nn != -1:
        prv[nn] = w
    sym[h] = -1
    if old < 2:
        ne, low = _push(rzz, w, q, ne, low)
    return ne, low


@_helper
def _push_right_pair(y, z, self_rank, runs, pt, q, ne, low):
    """Entry for the pair ``(z, sym[y])`` between new z's and the run at ``y`` on their right
    (-1: none), unless that run's own pair ranks lower.

    ``sym[y] != z``: the run at ``y`` never joins the new z's. Proof, in HF's order (merge the
    lowest-ranked pair, the leftmost among equals): say ``(a, b)`` merges into ``z`` and the token on
    its right is a ``z``. Then L = ``[a, b]`` and R = ``[z]`` are two copies of one string, L left
    of R. Tokens only grow, so no merge ever crossed the ends of L or R, and each copy went through
    the tokenizations of that string alone, in the same order (each merge inside a copy was the
    lowest pair of the copy, the leftmost among equals). While both copies stood at the same
    tokenization, R's next pair had the rank of one in L, further left, so L moved first: R is never
    ahead of L. Yet R (one token) is ahead of L (two). The kernel merges in HF's order (the pairs of
    a run at once only when nothing merges between them), so the same holds here;
    ``test_a_merge_never_finds_its_result_on_its_right`` (``tests/test_bpe_encoders.py``) checks it.
    """
    if y == -1:
        return ne, low
    sym, cnt, _, _ = runs
    x = sym[y]
    rc = self_rank[x] if cnt[y] >= 2 else -1
    return _push_left_pair(_lookup(pt, z, x), rc, y, q, ne, low)


@_helper
def _merge_run(p, r, a, z, rzz, rzb, self_rank, tok_len, runs, pt, q, ne, low):
    """Merge the run of a's at ``p`` (if it still is one) by ``r``, the rank of ``(a, a)``.

    ``rzz``, ``rzb``: the ranks of ``(z, z)`` and ``(z, a)``. Returns ``(ne, low)``; with
    ``low < r`` the rest of the run is back in bucket ``r``, behind the lower rank.
    """
    sym, cnt, nxt, prv = runs
    la = tok_len[a]
    while sym[p] == a and cnt[p] >= 2:
        kk = cnt[p]
        w = prv[p]
        y = nxt[p]
        ws = sym[w] if w != -1 else -1
        rwz = _lookup(pt, ws, z) if w != -1 else -1
        if kk >= 4 and ((0 <= rwz < r) or (0 <= rzb < r) or (kk >= 6 and 0 <= rzz < r)):
            # one of the kk // 2 merges but the last makes a pair ranked below r, which must
            # merge first: merge only the first pair, z + rest at p2
            p2 = p + 2 * la
            sym[p] = z
            cnt[p] = 1
            _put_run(p2, a, kk - 2, p, y, runs)
            if ws == z:  # z joins the run on its left
                ne, low = _join(w, p, rzz, runs, q, ne, low)
            else:
                ne, low = _push(rwz, p, q, ne, low)
            ne, low = _push(rzb, p2, q, ne, low)
            if low < r:  # the rest of the run goes back first, then the bucket's rest
                ne, low = _push(r, p2, q, ne, low)
                break
            p = p2
            continue
        # the whole run at once: kk // 2 tokens z, then one a if kk is odd
        half = kk >> 1
        sym[p] = z
        cnt[p] = half
        if kk & 1:
            t = p + (kk - 1) * la
            _put_run(t, a, 1, p, y, runs)
            ne, low = _push(rzb, t, q, ne, low)
        if ws == z:  # they join the run on their left
            ne, low = _join(w, p, rzz, runs, q, ne, low)
        else:
            rc = rzz if half >= 2 else -1
            ne, low = _push(rc, p, q, ne, low)
            ne, low = _push_left_pair(rwz, rc, p, q, ne, low)
        if (kk & 1) == 0:
            ne, low = _push_right_pair(y, z, self_rank, runs, pt, q, ne, low)
        break
    return ne, low


@_helper
def _merge_pair(p, a, b, z, rzz, rzb, raz, self_rank, tok_len, runs, pt, q, ne, low):
    """Merge the pair (last a of the run before ``p``, first b of the run at ``p``), if still there.

    ``rzz``, ``rzb``, ``raz``: the ranks of ``(z, z)``, ``(z, b)`` and ``(a, z)``. Returns
    ``(ne, low)``.
    """
    sym, cnt, nxt, prv = runs
    if sym[p] != b:
        return ne, low
    u = prv[p]
    if u == -1 or sym[u] != a:
        return ne, low
    cu = cnt[u]
    cv = cnt[p]
    w = prv[u]
    y = nxt[p]
    sym[p] = -1
    if cu >= 2:  # u keeps cu - 1 tokens a; z starts a run of its own
        cnt[u] = cu - 1
        if cu == 2 and w != -1 and self_rank[a] >= 0:
            # u is no run any more: push the pair on its left if it was deferred
            r2 = _lookup(pt, sym[w], a)
            if r2 > self_rank[a]:
                ne, low = _push(r2, u, q, ne, low)
        h = u + (cu - 1) * tok_len[a]
        sym[h] = z
        cnt[h] = 1
        prv[h] = u
        nxt[u] = h
        ne, low = _push(raz, h, q, ne, low)
    elif w != -1 and sym[w] == z:  # z (at u, one token) joins the run on its left
        ne, low = _join(w, u, rzz, runs, q, ne, low)
        h = w
    else:
        h = u
        sym[u] = z
        if w != -1:
            ne, low = _push(_lookup(pt, sym[w], z), u, q, ne, low)
    if cv >= 2:  # the run of b loses its first token: it now starts one b later
        q2 = p + tok_len[b]
        _put_run(q2, b, cv - 1, h, y, runs)
        rc = self_rank[b] if cv >= 3 else -1
        ne, low = _push(rc, q2, q, ne, low)
        ne, low = _push_left_pair(rzb, rc, q2, q, ne, low)
    else:
        nxt[h] = y
        if y != -1:
            prv[y] = h
        ne, low = _push_right_pair(y, z, self_rank, runs, pt, q, ne, low)
    return ne, low


@_helper
def _emit(runs, out, o):
    """Write the tokens of the runs, left to right, from ``out[o]``; returns the end."""
    sym, cnt, nxt, _ = runs
    p = 0
    while p != -1:
        for _ in range(cnt[p]):
            out[o] = sym[p]
            o += 1
        p = nxt[p]
    return o


@njit(cache=True, nogil=True)
def bpe_encode_flat(
    codes,
    offsets,
    table,
    first,
    self_rank,
    rank_lz,
    rank_zr,
    tok_len,
    n_alpha,
    vocab_size,
    pleft,
    pright,
    pnew,
    out,
    out_offsets,
):
    """Rank-ordered BPE of every sequence ``codes[offsets[s]:offsets[s + 1]]``.

    ``out`` must hold ``len(codes)`` ids; ``out_offsets`` (length ``len(offsets)``) gets
    the offsets of the packed result. Returns the total number of ids written. Tables:
    ``table``/``first`` from :func:`~ecgbyte.bpe._encode_table.build_pair_table`,
    ``self_rank``/``rank_lz``/``rank_zr`` from
    :func:`~ecgbyte.bpe._encode_table.build_rank_tables`, ``tok_len`` the symbols per token,
    ``pleft``/``pright``/``pnew`` the merges. All buckets are empty again after each sequence,
    so the scratch arrays need no reset.
    """
    n_seq = offsets.shape[0] - 1
    max_len = 1
    for s in range(n_seq):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    n_ranks = pleft.shape[0]
    n_buckets = max(n_ranks, 1)
    pt = (table, np.int64(table.shape[0] - 1), vocab_size)
    runs = (
        np.empty(max_len, np.int32),
        np.empty(max_len, np.int32),
        np.empty(max_len, np.int32),
        np.empty(max_len, np.int32),
    )
    # Entries: at most one per symbol at the start and 4 per token each step removes (real
    # data uses well under one per symbol; np.empty leaves the unused pages untouched).
    room = 5 * max_len
    q = (
        np.empty(n_buckets + room, np.int32),
        np.empty(n_buckets + room, np.int32),
        np.arange(n_buckets).astype(np.int32),
        np.zeros((n_buckets + 63) >> 6, np.int64),
    )
    tmp = np.empty(room, np.int32)  # positions of the bucket being drained
    slot = np.empty(room, np.int32)  # and their entries
    o = 0
    out_offsets[0] = 0
    for s in range(n_seq):
        start = offsets[s]
        n = offsets[s + 1] - start
        out_offsets[s + 1] = o
        if n == 0:
            continue
        # ne: the next free entry; lo: no bucket below lo is non-empty
        ne, lo = _load_runs(codes, start, n, first, self_rank, n_alpha, runs, q, n_buckets, n_ranks)
        while True:
            r = _lowest(q, lo)
            if r < 0:
                break
            k = _drain(r, q, tmp, slot)
            a = pleft[r]
            b = pright[r]
            z = pnew[r]
            rzz = self_rank[z]
            rzb = rank_zr[r]  # (z, b); (z, a) in a run
            raz = rank_lz[r]  # (a, z)
            lo = r
            low = n_ranks  # lowest rank pushed since the drain
            j = 0
            while j < k:
                p = tmp[j]
                j += 1
                if a == b:
                    ne, low = _merge_run(p, r, a, z, rzz, rzb, self_rank, tok_len, runs, pt, q, ne, low)
                else:
                    ne, low = _merge_pair(p, a, b, z, rzz, rzb, raz, self_rank, tok_len, runs, pt, q, ne, low)
                if low < r:
                    # A lower rank appeared (only when two merges build the same string): it runs
                    # first, as in HF's heap; the rest of bucket r goes back, in order.
                    _requeue(r, j, k, q, tmp, slot)
                    lo = low
                    break
        o = _emit(runs, out, o)
        out_offsets[s + 1] = o
    return o
