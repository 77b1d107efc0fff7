"""The BPE trainer's arrays (:class:`_State`): allocated and grown in Python, since the kernels
never allocate. The driver loop is :func:`ecgbyte.bpe.trainer._train_arrays`; the kernels are in
:mod:`ecgbyte.bpe._train_kernels`.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np


def _alloc(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An uninitialised array; a large one on transparent huge pages where the OS offers them.

    Huge pages cut the page faults of the first touch and the TLB misses of the kernels' scattered
    accesses (the occurrence lists jump across the corpus).
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < 1 << 22 or advice is None:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes)
    try:
        buf.madvise(advice)
    except OSError:
        pass  # no THP here: ordinary pages
    return np.frombuffer(buf, dtype).reshape(shape)


def _grown(a: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, a.dtype)
    out[: a.shape[0]] = a
    return out


# the occurrence pool holds this many int32 entries per corpus symbol (2 bytes per symbol); a
# rebuild lists the most frequent pairs up to REBUILD_FILL of it, leaving room for new pairs
POOL_FRACTION = 0.5
REBUILD_FILL = 0.75
MIN_POOL = 4096  # entries per partition at least (small corpora)


class _State:
    """The kernels' arrays; allocated and grown here, since the kernels never allocate.

    The pair table is one table per partition of the corpus (rows of ``tkey``, ``tcnt``,
    ``thead``, ``tstamp``, ``touched``, all with the same number of slots, of the occurrence
    ``pool`` and of the per-partition scalars ``pst``); the queue, vocabulary and ``st`` are shared.
    """

    def __init__(
        self,
        sym: np.ndarray,
        gstart: np.ndarray,
        gw: np.ndarray,
        alphabet_size: int,
        n_merges: int,
        *,
        bounds: Sequence[tuple[int, int]] | None = None,
        always_window: bool = False,
        pool_fraction: float | None = None,
        min_pool: int | None = None,
    ):
        from ecgbyte.bpe import _train_kernels as K

        self.K = K
        self.sym, self.gstart, self.gw = sym, gstart, gw
        bounds = list(bounds) if bounds is not None else [(0, sym.shape[0] - 1)]
        self.bounds = bounds
        self.n_parts = len(bounds)
        self.codes = np.zeros(self.n_parts, np.int64)
        self.st = np.zeros(K.N_STATE, np.int64)
        self.st[K.NOUT] = -1
        self.pst = np.zeros((self.n_parts, K.N_STATE), np.int64)
        self.pst[:, K.NOUT] = -1
        self.pst[:, K.ALWAYS_WINDOW] = always_window  # recount windows of runs (the rare path), for tests
        self.rebuilds = 0
        cap = 64
        while cap < 4 * alphabet_size * alphabet_size:
            cap *= 2
        self._new_table(cap)
        dense = (self.n_parts, alphabet_size * alphabet_size)
        K.init_parts(
            sym, self.tkey, self.tcnt, self.thead, self.tstamp, self.pst, gstart, gw, alphabet_size,
            np.asarray(bounds, np.int64).reshape(-1, 2), np.empty(dense, np.int64),
        )  # fmt: skip
        fraction = POOL_FRACTION if pool_fraction is None else pool_fraction
        longest = max(hi - lo for lo, hi in bounds)
        entries = max(fraction * longest, MIN_POOL if min_pool is None else min_pool)
        self.pool = _alloc((self.n_parts, self._chunks(entries) * K.CHUNK), np.int32)
        nv = alphabet_size + n_merges
        self.vlen = np.zeros(nv, np.int32)
        self.vlen[:alphabet_size] = 1
        for q in range(self.n_parts):
            self._rebuild(q, None)
        self.vhash = np.zeros(nv, np.uint64)
        self.vhash[:alphabet_size] = np.arange(1, alphabet_size + 1, dtype=np.uint64)
        self.vpow = np.zeros(nv, np.uint64)
        self.vpow[:alphabet_size] = K._HBASE
        self.voff = np.zeros(nv, np.int64)
        self.voff[:alphabet_size] = np.arange(alphabet_size)
        self.vbuf = np.zeros(4 * nv + 64, np.int32)
        self.vbuf[:alphabet_size] = np.arange(alphabet_size)
        self.st[K.VSIZE] = alphabet_size
        self.st[K.VBUF] = alphabet_size
        self.st[K.MAXLEN] = 1
        self.out_pairs = np.zeros((n_merges, 2), np.int32)
        self.out_ids = np.zeros(n_merges, np.int32)

    def _chunks(self, entries: float) -> int:
        """Chunks that hold ``entries`` entries (at least one)."""
        return max(1, -(-int(entries) // (self.K.CHUNK - 2)))

    def _rebuild(self, q: int, must: int | None) -> None:
        """List anew the pairs of partition ``q`` counted at least a threshold: as many of the most
        frequent as fill REBUILD_FILL of the pool, and at least the pair ``must`` (a key)."""
        K = self.K
        keys, counts = self.tkey[q], self.tcnt[q]
        live = counts[(keys != K.EMPTY) & (counts > 0)]
        if live.size == 0:
            K.rebuild(self.sym, self.vlen, self.pool[q], keys, counts, self.thead[q], self.pst[q], 0, 0, 1)
            return
        live = np.sort(live)[::-1]
        # a weighted count bounds its pair's entries; each listed pair may leave one chunk part-full
        need = np.cumsum(-(-live // (K.CHUNK - 2)) + 1)
        n_chunks = self.pool.shape[1] // K.CHUNK
        k = int(np.searchsorted(need, REBUILD_FILL * n_chunks, side="right"))  # pairs that fit
        threshold = int(live[k - 1]) if k > 0 else int(live[0]) + 1
        if k < live.size and k > 0 and live[k] == live[k - 1]:
            threshold += 1  # a tie that does not fit as a whole is left out
        if must is not None:
            i = int(np.flatnonzero(keys == must)[0])
            threshold = min(threshold, int(counts[i]))
        threshold = max(threshold, 1)
        required = int(need[np.searchsorted(-live, -threshold, side="right") - 1])
        if required > n_chunks:  # the pair to merge does not fit: grow the pool
            grown = _alloc((self.n_parts, self._chunks(2 * required * (K.CHUNK - 2)) * K.CHUNK), np.int32)
            grown[:, : self.pool.shape[1]] = self.pool
            self.pool = grown
        lo, hi = self.bounds[q]
        K.rebuild(
            self.sym, self.vlen, self.pool[q], keys, counts, self.thead[q], self.pst[q], lo, hi, threshold
        )
        self.rebuilds += 1

    def rescan(self) -> None:
        """Rebuild the lists of every partition that found the current pair untracked."""
        K = self.K
        for q in range(self.n_parts):
            if self.pst[q, K.NEEDSCAN]:
                self._rebuild(q, int(self.st[K.CURKEY]))
                self.pst[q, K.NEEDSCAN] = 0

    def _new_table(self, cap: int) -> None:
        K, shape = self.K, (self.n_parts, cap)
        self.tkey = np.full(shape, K.EMPTY, np.int64)
        self.tcnt = np.zeros(shape, np.int64)
        self.thead = np.full(shape, -1, np.int32)
        self.tstamp = np.full(shape, -1, np.int32)
        self.touched = np.zeros(shape, np.int32)

    def grow_table(self) -> None:
        old = (self.tkey, self.tcnt, self.thead, self.touched)
        self._new_table(2 * self.tkey.shape[1])
        for q in range(self.n_parts):
            self.K.rehash(*(a[q] for a in old), self.tkey[q], self.tcnt[q], self.thead[q],
                          self.tstamp[q], self.touched[q], self.pst[q])  # fmt: skip

    def init_heap(self, max_len: int, min_count: int = 1) -> None:
        size = 2 * int(self.pst[:, self.K.USED].sum()) + 64
        self.hcnt = np.zeros(size, np.int64)
        self.hkey = np.zeros(size, np.int64)
        self.K.init_heap(self.tkey, self.tcnt, self.vlen, max_len, min_count, self.hcnt, self.hkey, self.st)

    def rebuild_heap(self, max_len: int, min_count: int = 1) -> None:
        """Drop the stale entries: queue every pair again with its current count (and grow)."""
        K = self.K
        size = max(self.hcnt.shape[0], 2 * int(self.pst[:, K.USED].sum() + self.pst[:, K.NTOUCH].sum()) + 64)
        if size > self.hcnt.shape[0]:
            self.hcnt = np.zeros(size, np.int64)
            self.hkey = np.zeros(size, np.int64)
        K.init_heap(self.tkey, self.tcnt, self.vlen, max_len, min_count, self.hcnt, self.hkey, self.st)

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        return (
            self.sym, self.pool, self.tkey, self.tcnt, self.thead, self.tstamp,
            self.touched, self.pst, self.hcnt, self.hkey, self.vlen, self.vhash, self.vpow, self.voff,
            self.vbuf, self.gstart, self.gw, self.st,
        )  # fmt: skip
