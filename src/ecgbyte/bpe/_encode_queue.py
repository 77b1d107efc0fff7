"""Bucket queue of the rank-ordered encoder: one FIFO list of positions per merge rank.

The rank-ordered encoder (:mod:`ecgbyte.bpe._encode_bpe`) keeps the pairs waiting to merge here,
in place of HF's binary heap. ``q = (epos, enext, tail, bits)`` travels as one tuple:

- entries: ``epos[e]`` a symbol position, ``enext[e]`` the next entry of its bucket (-1: none);
- bucket ``r`` is a list whose head is the dummy entry ``r`` (entries ``0 .. n_buckets - 1`` are
  heads, the others are handed out in order: ``ne`` is the next free one) and whose last entry
  is ``tail[r]`` (``tail[r] == r``: empty);
- bit ``r & 63`` of ``bits[r >> 6]`` says that bucket ``r`` is non-empty, so the lowest
  non-empty bucket is found 64 ranks at a time.

An entry is never removed when the sequence changes under it: the encoder checks whether its
pair is still there when it drains the entry. The pushes return ``(ne, low)``: the next free
entry and the lowest rank pushed so far, which the encoder watches for a rank below the bucket
it is draining.

The helpers are compiled like the encoder's (``_helper``, see :mod:`ecgbyte.bpe._encode_bpe`).
numba caches a kernel by its own file only: after editing a helper here, delete the
``*.nbi``/``*.nbc`` files under ``bpe/__pycache__`` so that the kernels inlining it compile again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_helper = njit(cache=True, nogil=True, _nrt=False, forceinline=True)  # why: see _encode_bpe

# Index of the lowest set bit of a 64-bit word ``w``: ``_CTZ[(((w & -w) * _DEBRUIJN) >> 58) & 63]``.
_DEBRUIJN = np.int64(0x03F79D71B4CB0A89)
_CTZ = np.zeros(64, np.int64)
for _i in range(64):
    _CTZ[((_DEBRUIJN.item() << _i) & (2**64 - 1)) >> 58] = _i
del _i


@_helper
def _push(r, pos, q, ne, low):
    """Append an entry at ``pos`` to bucket ``r`` (nothing if ``r`` < 0, no merge)."""
    if r < 0:
        return ne, low
    epos, enext, tail, bits = q
    epos[ne] = pos
    enext[ne] = -1
    enext[tail[r]] = ne
    tail[r] = ne
    bits[r >> 6] |= np.int64(1) << (r & 63)
    return ne + 1, min(low, r)


@_helper
def _push_left_pair(r, rc, pos, q, ne, low):
    """Entry of rank ``r`` for the pair on the left of the run at ``pos``, unless the pair inside
    that run ranks lower (``0 <= rc < r``): then the run merges first and takes the pair's right
    token away, so it never merges (the encoder pushes it if the run shrinks to one token)."""
    if 0 <= rc < r:
        return ne, low
    return _push(r, pos, q, ne, low)


@_helper
def _lowest(q, lo):
    """The lowest non-empty bucket ``>= lo``, or -1 if there is none."""
    bits = q[3]
    n_blocks = bits.shape[0]
    bk = lo >> 6
    if bk >= n_blocks:
        return -1
    word = bits[bk] & (np.int64(-1) << (lo & 63))
    while word == 0 and bk + 1 < n_blocks:
        bk += 1
        word = bits[bk]
    if word == 0:
        return -1
    return (bk << 6) + _CTZ[(((word & -word) * _DEBRUIJN) >> 58) & 63]


@_helper
def _drain(r, q, tmp, slot):
    """Empty bucket ``r`` into ``tmp`` (its positions, ascending) and ``slot`` (its entries, for
    :func:`_requeue` to reuse); returns how many."""
    epos, enext, tail, bits = q
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
        _sort(tmp, k)
    return k


@njit(cache=True, nogil=True, _nrt=True)
def _sort(a, k):
    """Sort ``a[:k]`` in place (rare: a bucket whose positions came out of order). A function of
    its own, with reference counting, which numba's sort needs."""
    a[:k].sort()


@_helper
def _requeue(r, j, k, q, tmp, slot):
    """Put the drained positions ``tmp[j:k]`` back at the end of bucket ``r``, in order, in the
    slots of the drained entries (a lower rank appeared and runs first)."""
    epos, enext, tail, bits = q
    for jj in range(j, k):
        e = slot[jj]
        epos[e] = tmp[jj]
        enext[e] = -1
        enext[tail[r]] = e
        tail[r] = e
    if tail[r] != r:
        bits[r >> 6] |= np.int64(1) << (r & 63)
