"""Numba kernels behind :mod:`ecgbyte.bpe.encoders`: arrays in, arrays out.

No validation, I/O or Python objects here (tiktoken's ``lib.rs`` split): the public
wrappers in :mod:`ecgbyte.bpe.encoders` check the inputs, build the tables and call
these. Every kernel is ``nogil`` so that batch encoding can run on several threads.

Rank-ordered BPE (``bpe_encode_flat``)
    Exactly the algorithm of HF ``tokenizers`` (``Word::merge_all``): repeatedly merge
    the adjacent pair with the lowest merge rank, the leftmost one among equal ranks.
    HF keeps a binary heap of ``(rank, position)``; we keep a *bucket queue*: one FIFO
    list of positions per rank plus a two-level occupancy index to find the lowest
    non-empty rank. A bucket is drained in ascending position order. Merging the pair
    of rank ``r`` can never create another pair of rank ``r`` (the merged token is
    strictly longer than both parts), so draining a bucket is exact; when it creates a
    pair of *lower* rank (possible only when two merges produce the same string, see
    ``Merges.ids``) the rest of the bucket is put back and the lower rank runs first,
    as the heap would do. Each symbol costs O(1) amortised plus the sort of the
    positions inside a bucket.

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


# ---------------------------------------------------------------------------- bucket queue
# Written out by hand in one function: numba turns calls between jitted functions that take
# arrays into reference-count traffic that made this 5-30x slower.


@njit(cache=True, nogil=True)
def bpe_encode_flat(codes, offsets, table, first, n_alpha, vocab_size, pleft, pright, pnew, out, out_offsets):
    """Rank-ordered BPE of every sequence ``codes[offsets[s]:offsets[s + 1]]``.

    ``out`` must hold ``len(codes)`` ids; ``out_offsets`` (length ``len(offsets)``) gets
    the offsets of the packed result. Returns the total number of ids written.

    Per sequence, a linked list over positions: ``sym[p]`` is the token starting at ``p``
    (-1 once absorbed by its left neighbour), ``nxt``/``prv`` its neighbours. Bucket ``r``
    is a FIFO list of entries (``epos``, ``enext``) hanging off the dummy entry ``cap + r``
    and ending at ``tail[r]`` (``tail[r] == cap + r``: empty), so a push has no branch;
    ``flag[r]`` says it is non-empty and ``block[r >> 6]`` counts the non-empty buckets of
    each 64 ranks. All buckets are empty again after each sequence, so the scratch arrays
    need no reset.
    """
    n_seq = offsets.shape[0] - 1
    max_len = 1
    for s in range(n_seq):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    n_ranks = pleft.shape[0]
    n_blocks = (max(n_ranks, 1) + 63) >> 6
    mask = np.int64(table.shape[0] - 1)
    sym = np.empty(max_len, np.int32)
    nxt = np.empty(max_len, np.int32)
    prv = np.empty(max_len, np.int32)
    # every symbol gives at most one initial entry and every merge at most two more
    cap = 3 * max_len
    epos = np.empty(cap + max(n_ranks, 1), np.int32)
    enext = np.empty(cap + max(n_ranks, 1), np.int32)
    tmp = np.empty(3 * max_len, np.int32)
    slot = np.empty(3 * max_len, np.int32)
    tail = (cap + np.arange(max(n_ranks, 1))).astype(np.int32)
    flag = np.zeros(max(n_ranks, 1), np.uint8)
    block = np.zeros(n_blocks, np.int32)
    o = 0
    out_offsets[0] = 0
    for s in range(n_seq):
        start = offsets[s]
        n = offsets[s + 1] - start
        out_offsets[s + 1] = o
        if n == 0:
            continue
        for i in range(n):
            sym[i] = codes[start + i]
            nxt[i] = i + 1
            prv[i] = i - 1
        nxt[n - 1] = -1
        ne = 0  # entries used
        lo = n_ranks  # no bucket below lo is non-empty
        for i in range(n - 1):
            r = first[sym[i] * n_alpha + sym[i + 1]]
            if r >= 0:
                epos[ne] = i
                enext[ne] = -1
                t = tail[r]
                enext[t] = ne
                tail[r] = ne
                flag[r] = 1
                block[r >> 6] += t == cap + r
                ne += 1
                if r < lo:
                    lo = r
        while True:
            # lowest non-empty bucket at or above lo
            r = -1
            bk = lo >> 6
            while bk < n_blocks:
                if block[bk] > 0:
                    rr = max(lo, bk << 6)
                    stop = min(n_ranks, (bk + 1) << 6)
                    while rr < stop:
                        if flag[rr]:
                            r = rr
                            break
                        rr += 1
                    if r >= 0:
                        break
                bk += 1
            if r < 0:
                break
            # drain bucket r into tmp (positions) and slot (entry indices), ascending positions
            k = 0
            e = enext[cap + r]
            srt = True
            while e != -1:
                tmp[k] = epos[e]
                slot[k] = e
                if k > 0 and tmp[k] < tmp[k - 1]:
                    srt = False
                k += 1
                e = enext[e]
            tail[r] = cap + r
            flag[r] = 0
            block[r >> 6] -= 1
            if not srt:
                tmp[:k].sort()
            a = pleft[r]
            b = pright[r]
            z = pnew[r]
            lo = r
            for j in range(k):
                p = tmp[j]
                if sym[p] != a:
                    continue
                q = nxt[p]
                if q == -1 or sym[q] != b:
                    continue
                # merge p and q into z at p
                sym[p] = z
                sym[q] = -1
                nq = nxt[q]
                nxt[p] = nq
                if nq != -1:
                    prv[nq] = p
                # the two new pairs (left neighbour, z) and (z, right neighbour)
                low = n_ranks
                pp = prv[p]
                if pp != -1:
                    r2 = _lookup(table, mask, vocab_size, sym[pp], z)
                    if r2 >= 0:
                        epos[ne] = pp
                        enext[ne] = -1
                        t = tail[r2]
                        enext[t] = ne
                        tail[r2] = ne
                        flag[r2] = 1
                        block[r2 >> 6] += t == cap + r2
                        ne += 1
                        low = r2
                if nq != -1:
                    r2 = _lookup(table, mask, vocab_size, z, sym[nq])
                    if r2 >= 0:
                        epos[ne] = p
                        enext[ne] = -1
                        t = tail[r2]
                        enext[t] = ne
                        tail[r2] = ne
                        flag[r2] = 1
                        block[r2 >> 6] += t == cap + r2
                        ne += 1
                        low = min(low, r2)
                if low < r:
                    # A lower rank appeared (only when two merges build the same string): it runs
                    # first, as in HF's heap; the rest of bucket r is relinked, in order, into the
                    # slots of the drained entries.
                    for jj in range(j + 1, k):
                        e = slot[jj]
                        epos[e] = tmp[jj]
                        enext[e] = -1
                        t = tail[r]
                        enext[t] = e
                        tail[r] = e
                        flag[r] = 1
                        block[r >> 6] += t == cap + r
                    lo = low
                    break
        # the surviving tokens, left to right
        p = 0
        while p != -1:
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
