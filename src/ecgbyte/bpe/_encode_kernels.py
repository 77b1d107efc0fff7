"""Numba kernels behind :mod:`ecgbyte.bpe.encoders`: arrays in, arrays out.

No validation, I/O or Python objects here (tiktoken's ``lib.rs`` split): the public
wrappers in :mod:`ecgbyte.bpe.encoders` check the inputs, build the tables and call
these. Every kernel is ``nogil`` so that batch encoding can run on several threads.

Rank-ordered BPE (``bpe_encode_flat``)
    Exactly the algorithm of HF ``tokenizers`` (``Word::merge_all``): repeatedly merge
    the adjacent pair with the lowest merge rank, the leftmost one among equal ranks.
    HF keeps a binary heap of ``(rank, position)`` over single tokens; we keep the
    sequence as a linked list of *runs* (``k`` copies of one token) and a *bucket queue*:
    one FIFO list of entries per rank, a bitmask of the non-empty ranks, and each bucket
    drained in ascending position order. An entry stands either for the pairs inside a run
    (pair ``(x, x)``) or for the pair across the boundary between two runs; entries are not
    removed when the runs change, they are checked when drained.

    Merging the pair of rank ``r`` never creates another pair of rank ``r`` (the new token
    is longer than both parts), so draining a bucket is exact. ECG symbols come mostly in
    runs (87% of neighbouring symbols are equal in the benchmark corpus). A run of ``k``
    tokens ``x`` is merged by the rank of ``(x, x)`` in one step: it becomes ``k // 2``
    tokens ``z`` followed by one ``x`` when ``k`` is odd, which is what the ``k // 2``
    pairwise merges, leftmost first, give. Those merges create, in this order, ``(w, z)``
    with the token ``w`` on the left, ``(z, x)`` and then ``(z, z)``; if one of them ranks
    below ``r`` and is created before the last merge, HF would merge it in between, so
    then only the first pair merges and the rest of the run is taken up again after that
    lower rank. When a merge creates a pair of *lower* rank (possible only when two merges
    produce the same string, see ``Merges.ids``), the rest of the bucket is put back and
    the lower rank runs first, as the heap would do.

    The pair on the left boundary of a run of two or more ``x`` gets no entry when
    ``(x, x)`` ranks lower: the run merges first and replaces its first ``x``, so that
    pair never merges. If the run shrinks to one token before (its last ``x`` merged with
    the token on its right), the entry is made then. Each run and each removed token cost
    O(1) amortised (a few hash probes and bucket entries) plus the sort of a bucket's
    positions when they come out of order.

Greedy longest match (``greedy_encode_flat``)
    The original ECG-Byte ``encode_text``: walk a trie of the token strings from the
    current position, emit the longest token seen, continue after it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------- pair table


@njit(cache=True, nogil=True)
def _hash(key: np.int64, mask: np.int64) -> np.int64:
    # Fibonacci hashing on the 64-bit key; ``mask`` = table size - 1 (a power of two).
    h = (key * np.int64(-7046029254386353131)) >> np.int64(20)
    return h & mask


RANK_BITS = 24  # ranks < 2**24 merges; pair keys left * vocab_size + right < 2**39


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


@njit(cache=True, nogil=True, inline="always")
def _lookup(table, mask, vocab_size, a, b):
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
    mask = np.int64(table.shape[0] - 1)
    self_rank = np.empty(vocab_size, np.int32)
    for t in range(vocab_size):
        self_rank[t] = _lookup(table, mask, vocab_size, t, t)
    n = left.shape[0]
    rank_lz = np.empty(n, np.int32)
    rank_zr = np.empty(n, np.int32)
    for r in range(n):
        rank_lz[r] = _lookup(table, mask, vocab_size, left[r], new[r])
        rank_zr[r] = _lookup(table, mask, vocab_size, new[r], right[r])
    return self_rank, rank_lz, rank_zr


# ---------------------------------------------------------------------------- bucket queue

# Index of the lowest set bit of a 64-bit word ``w``: ``_CTZ[(((w & -w) * _DEBRUIJN) >> 58) & 63]``.
_DEBRUIJN = np.int64(0x03F79D71B4CB0A89)
_CTZ = np.zeros(64, np.int64)
for _i in range(64):
    _CTZ[((_DEBRUIJN.item() << _i) & (2**64 - 1)) >> 58] = _i
del _i


@njit(cache=True, nogil=True, inline="always")
def _push(r, pos, ne, epos, enext, tail, bits):
    # append entry ``ne`` (position ``pos``) to bucket ``r``; returns the next free entry
    epos[ne] = pos
    enext[ne] = -1
    enext[tail[r]] = ne
    tail[r] = ne
    bits[r >> 6] |= np.int64(1) << (r & 63)
    return ne + 1


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
    ``table``/``first`` from :func:`build_pair_table`, ``self_rank``/``rank_lz``/``rank_zr``
    from :func:`build_rank_tables`, ``tok_len`` the symbols per token, ``pleft``/``pright``/
    ``pnew`` the merges.

    State per sequence, all indexed by symbol position. A run of ``cnt[p]`` copies of token
    ``sym[p]`` starts at ``p`` (``sym[p] == -1``: none does); ``nxt[p]``/``prv[p]`` are the
    neighbouring runs (-1: none); neighbouring runs hold different tokens. Bucket ``r`` is a
    FIFO list of entries (``epos``: position, ``enext``: next entry) whose head is entry ``r``
    and whose last entry is ``tail[r]`` (``tail[r] == r``: empty); bit ``r & 63`` of
    ``bits[r >> 6]`` says it is non-empty. An entry at ``p`` in the bucket of merge
    ``(a, b)`` stands for the pairs inside the run at ``p`` when ``a == b``, else for the
    pair across the boundary between the run at ``p`` and the run before it; it is acted on
    only if that pair is still there when drained. All buckets are empty again after each
    sequence, so the scratch arrays need no reset.
    """
    n_seq = offsets.shape[0] - 1
    max_len = 1
    for s in range(n_seq):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    n_ranks = pleft.shape[0]
    n_buckets = max(n_ranks, 1)
    n_blocks = (n_buckets + 63) >> 6
    mask = np.int64(table.shape[0] - 1)
    sym = np.empty(max_len, np.int32)
    cnt = np.empty(max_len, np.int32)
    nxt = np.empty(max_len, np.int32)
    prv = np.empty(max_len, np.int32)
    # Entries: at most one per symbol at the start and 4 per token each step removes (real
    # data uses well under one per symbol; np.empty leaves the unused pages untouched).
    room = 5 * max_len
    epos = np.empty(n_buckets + room, np.int32)
    enext = np.empty(n_buckets + room, np.int32)
    tmp = np.empty(room, np.int32)  # positions of the bucket being drained
    slot = np.empty(room, np.int32)  # and their entries
    tail = np.arange(n_buckets).astype(np.int32)
    bits = np.zeros(n_blocks, np.int64)
    o = 0
    out_offsets[0] = 0
    for s in range(n_seq):
        start = offsets[s]
        n = offsets[s + 1] - start
        out_offsets[s + 1] = o
        if n == 0:
            continue
        ne = n_buckets  # next free entry
        lo = n_ranks  # no bucket below lo is non-empty
        # the maximal runs of the input and the entries of their pairs
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
            if rc >= 0:
                ne = _push(rc, i, ne, epos, enext, tail, bits)
                lo = min(lo, rc)
            if last != -1:
                nxt[last] = i
                r2 = first[sym[last] * n_alpha + c]
                if r2 >= 0 and not 0 <= rc < r2:  # else deferred (see the module docstring)
                    ne = _push(r2, i, ne, epos, enext, tail, bits)
                    lo = min(lo, r2)
            last = i
            i = j
        nxt[last] = -1
        while True:
            # the lowest non-empty bucket r >= lo
            bk = lo >> 6
            if bk >= n_blocks:
                break
            word = bits[bk] & (np.int64(-1) << (lo & 63))
            while word == 0 and bk + 1 < n_blocks:
                bk += 1
                word = bits[bk]
            if word == 0:
                break
            r = (bk << 6) + _CTZ[(((word & -word) * _DEBRUIJN) >> 58) & 63]
            # drain it into tmp/slot, in ascending positions
            k = 0
            e = enext[r]
            srt = True
            while e != -1:
                tmp[k] = epos[e]
                slot[k] = e
                if k > 0 and tmp[k] < tmp[k - 1]:
                    srt = False
                k += 1
                e = enext[e]
            tail[r] = r
            bits[r >> 6] &= ~(np.int64(1) << (r & 63))
            if not srt:
                tmp[:k].sort()
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
                    # ---- the run of a at p, if it still is one
                    la = tok_len[a]
                    while sym[p] == a and cnt[p] >= 2:
                        kk = cnt[p]
                        w = prv[p]
                        y = nxt[p]
                        ws = sym[w] if w != -1 else -1
                        rwz = _lookup(table, mask, vocab_size, ws, z) if w != -1 else -1
                        if kk >= 4 and ((0 <= rwz < r) or (0 <= rzb < r) or (kk >= 6 and 0 <= rzz < r)):
                            # one of the kk // 2 merges but the last makes a pair ranked below r,
                            # which must merge first: merge only the first pair, z + rest at p2
                            p2 = p + 2 * la
                            sym[p2] = a
                            cnt[p2] = kk - 2
                            nxt[p2] = y
                            if y != -1:
                                prv[y] = p2
                            if ws == z:  # z joins the run on its left
                                old = cnt[w]
                                cnt[w] = old + 1
                                nxt[w] = p2
                                prv[p2] = w
                                sym[p] = -1
                                if old < 2 and rzz >= 0:
                                    ne = _push(rzz, w, ne, epos, enext, tail, bits)
                                    low = min(low, rzz)
                            else:
                                sym[p] = z
                                cnt[p] = 1
                                nxt[p] = p2
                                prv[p2] = p
                                if rwz >= 0:
                                    ne = _push(rwz, p, ne, epos, enext, tail, bits)
                                    low = min(low, rwz)
                            if rzb >= 0:
                                ne = _push(rzb, p2, ne, epos, enext, tail, bits)
                                low = min(low, rzb)
                            if low < r:  # the rest of the run goes back first, then the bucket's rest
                                ne = _push(r, p2, ne, epos, enext, tail, bits)
                                break
                            p = p2
                            continue
                        # the whole run at once: kk // 2 tokens z, then one a if kk is odd
                        half = kk >> 1
                        h = p  # the run that holds the new z's
                        sym[p] = z
                        cnt[p] = half
                        if kk & 1:
                            t = p + (kk - 1) * la
                            sym[t] = a
                            cnt[t] = 1
                            prv[t] = p
                            nxt[t] = y
                            nxt[p] = t
                            if y != -1:
                                prv[y] = t
                            if rzb >= 0:
                                ne = _push(rzb, t, ne, epos, enext, tail, bits)
                                low = min(low, rzb)
                        if ws == z:  # the z's join the run on their left
                            old = cnt[w]
                            cnt[w] = old + half
                            nn = nxt[p]
                            nxt[w] = nn
                            if nn != -1:
                                prv[nn] = w
                            sym[p] = -1
                            h = w
                            if old < 2 and rzz >= 0:
                                ne = _push(rzz, w, ne, epos, enext, tail, bits)
                                low = min(low, rzz)
                        else:
                            rc = rzz if half >= 2 else -1
                            if rc >= 0:
                                ne = _push(rc, p, ne, epos, enext, tail, bits)
                                low = min(low, rc)
                            if rwz >= 0 and not 0 <= rc < rwz:
                                ne = _push(rwz, p, ne, epos, enext, tail, bits)
                                low = min(low, rwz)
                        if (kk & 1) == 0 and y != -1:
                            if sym[y] == z:  # the run on the right joins the z's
                                old = cnt[h]
                                cnt[h] = old + cnt[y]
                                nn = nxt[y]
                                nxt[h] = nn
                                if nn != -1:
                                    prv[nn] = h
                                sym[y] = -1
                                if old < 2 and rzz >= 0:
                                    ne = _push(rzz, h, ne, epos, enext, tail, bits)
                                    low = min(low, rzz)
                            else:
                                r2 = _lookup(table, mask, vocab_size, z, sym[y])
                                rc = self_rank[sym[y]] if cnt[y] >= 2 else -1
                                if r2 >= 0 and not 0 <= rc < r2:
                                    ne = _push(r2, y, ne, epos, enext, tail, bits)
                                    low = min(low, r2)
                        break
                else:
                    # ---- the pair (last a of the run u, first b of the run at p), if still there
                    if sym[p] != b:
                        continue
                    u = prv[p]
                    if u == -1 or sym[u] != a:
                        continue
                    cu = cnt[u]
                    cv = cnt[p]
                    y = nxt[p]
                    sym[p] = -1
                    if cu >= 2:  # u keeps cu - 1 tokens a; z starts a run of its own
                        cnt[u] = cu - 1
                        w = prv[u]
                        if cu == 2 and w != -1 and self_rank[a] >= 0:
                            # u is no run any more: push the pair on its left if it was deferred
                            r2 = _lookup(table, mask, vocab_size, sym[w], a)
                            if r2 > self_rank[a]:
                                ne = _push(r2, u, ne, epos, enext, tail, bits)
                                low = min(low, r2)
                        h = u + (cu - 1) * tok_len[a]
                        sym[h] = z
                        cnt[h] = 1
                        prv[h] = u
                        nxt[u] = h
                        if raz >= 0:
                            ne = _push(raz, h, ne, epos, enext, tail, bits)
                            low = min(low, raz)
                    else:
                        w = prv[u]
                        if w != -1 and sym[w] == z:  # z joins the run on its left
                            h = w
                            old = cnt[w]
                            cnt[w] = old + 1
                            sym[u] = -1
                            if old < 2 and rzz >= 0:
                                ne = _push(rzz, w, ne, epos, enext, tail, bits)
                                low = min(low, rzz)
                        else:
                            h = u
                            sym[u] = z
                            if w != -1:
                                r2 = _lookup(table, mask, vocab_size, sym[w], z)
                                if r2 >= 0:
                                    ne = _push(r2, u, ne, epos, enext, tail, bits)
                                    low = min(low, r2)
                    if cv >= 2:  # the run of b loses its first token: it now starts one b later
                        q2 = p + tok_len[b]
                        sym[q2] = b
                        cnt[q2] = cv - 1
                        prv[q2] = h
                        nxt[h] = q2
                        nxt[q2] = y
                        if y != -1:
                            prv[y] = q2
                        rc = self_rank[b] if cv >= 3 else -1
                        if rc >= 0:
                            ne = _push(rc, q2, ne, epos, enext, tail, bits)
                            low = min(low, rc)
                        if rzb >= 0 and not 0 <= rc < rzb:
                            ne = _push(rzb, q2, ne, epos, enext, tail, bits)
                            low = min(low, rzb)
                    elif y != -1 and sym[y] == z:  # the run on the right joins z
                        old = cnt[h]
                        cnt[h] = old + cnt[y]
                        nn = nxt[y]
                        nxt[h] = nn
                        if nn != -1:
                            prv[nn] = h
                        sym[y] = -1
                        if old < 2 and rzz >= 0:
                            ne = _push(rzz, h, ne, epos, enext, tail, bits)
                            low = min(low, rzz)
                    else:
                        nxt[h] = y
                        if y != -1:
                            prv[y] = h
                            r2 = _lookup(table, mask, vocab_size, z, sym[y])
                            rc = self_rank[sym[y]] if cnt[y] >= 2 else -1
                            if r2 >= 0 and not 0 <= rc < r2:
                                ne = _push(r2, y, ne, epos, enext, tail, bits)
                                low = min(low, r2)
                if low < r:
                    # A lower rank appeared (only when two merges build the same string): it runs
                    # first, as in HF's heap; the rest of bucket r is relinked, in order, into the
                    # slots of the drained entries.
                    for jj in range(j, k):
                        e = slot[jj]
                        epos[e] = tmp[jj]
                        enext[e] = -1
                        enext[tail[r]] = e
                        tail[r] = e
                    if tail[r] != r:
                        bits[r >> 6] |= np.int64(1) << (r & 63)
                    lo = low
                    break
        # the surviving tokens, left to right
        p = 0
        while p != -1:
            for _ in range(cnt[p]):
                out[o] = sym[p]
                o += 1
            p = nxt[p]
        out_offsets[s + 1] = o
    return o


# ---------------------------------------------------------------------------- greedy trie


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
    """Longest match of every ``codes[offsets[i]:offsets[i + 1]]``; see ``bpe_encode_flat``."""
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
