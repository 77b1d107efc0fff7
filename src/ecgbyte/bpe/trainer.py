"""The fast BPE trainer: validation, deduplication and progress around the numba kernels.

:func:`train` returns exactly what the pure-Python spec :func:`ecgbyte.bpe.reference.train` returns
(the tests compare them on random corpora), but incrementally: each merge touches only its own
occurrences and their neighbouring runs, never the whole corpus (the original ECG-Byte recounts
every pair after every merge). The data structures are described in
:mod:`ecgbyte.bpe._train_kernels`: 12 bytes per corpus symbol, plus the pair table and queue
(about 3 more bytes per symbol on 30M symbols of ECG).

Kernels compile on the first call (10-30 s on a busy 2-core machine), then load from numba's
disk cache (about 1 s).
"""

from __future__ import annotations

import functools
import hashlib
import mmap
from collections.abc import Iterable, Sequence

import numpy as np

from ecgbyte.bpe.merges import Merges, default_alphabet
from ecgbyte.errors import ConfigError, TokenizerError

_INT32_MAX = int(np.iinfo(np.int32).max)


def train(
    sequences: Iterable[Sequence[int] | np.ndarray],
    *,
    n_merges: int,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    alphabet_size: int = 26,
    progress: bool = False,
) -> Merges:
    """Learn up to ``n_merges`` BPE merges over symbol sequences.

    Parameters
    ----------
    sequences : iterable of 1-D integer arrays
        The corpus: one array of symbol codes ``0 .. alphabet_size - 1`` per lead of each ECG
        (a 2-D ``[leads, samples]`` array works too). A merge never spans two sequences.
        Identical sequences are counted once with their multiplicity (same result, less work).
    n_merges : int
        Maximum number of merges (>= 0).
    min_frequency : int
        Stop when no allowed pair occurs at least this many times (>= 1). Default 2.
    max_token_length : int or None
        Never merge a pair whose token would be longer than this many symbols (None: no limit).
    alphabet_size : int
        Number of symbols (1..26). Default 26.
    progress : bool
        Show a tqdm progress bar over the merges.

    Returns
    -------
    Merges
        The merges in rank order. Counts are non-overlapping ("aaaa" holds two "aa"); the pair
        with the highest count wins and ties go to the lowest ``(left, right)`` id pair.

    Raises
    ------
    ConfigError
        If an option is out of range.
    TokenizerError
        If a sequence is not 1-D, not integer, or holds a code outside the alphabet.

    Examples
    --------
    >>> m = train([[0, 0, 0, 0, 1], [0, 0, 1]], n_merges=10, alphabet_size=2)
    >>> m.vocab()[2:], m.pairs.tolist()
    (['aa', 'aab'], [[0, 0], [2, 1]])
    """
    alphabet = default_alphabet(alphabet_size)
    n_merges = _check_int("n_merges", n_merges, 0)
    min_frequency = _check_int("min_frequency", min_frequency, 1)
    if max_token_length is not None:
        max_token_length = _check_int("max_token_length", max_token_length, 1)
    if alphabet_size + n_merges > _INT32_MAX:
        raise ConfigError(f"n_merges={n_merges} gives more token ids than int32 holds; lower it")
    seqs, weights = _dedupe(sequences, alphabet_size)
    pairs, ids = _train_arrays(
        seqs,
        weights,
        n_merges,
        min_frequency,
        max_token_length,
        alphabet_size,
        progress,
    )
    return Merges(pairs=pairs, ids=ids, alphabet_size=alphabet_size, alphabet=alphabet)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _dedupe(sequences: Iterable, alphabet_size: int) -> tuple[list[np.ndarray], list[int]]:
    """Unique sequences (uint8, length >= 2) in first-seen order, and how often each occurs."""
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise TokenizerError(
            f"sequences must be an iterable of 1-D integer arrays, got {type(sequences).__name__}"
        )
    first: dict[bytes, list[int]] = {}  # digest -> indices into `unique` with that digest
    unique: list[np.ndarray] = []
    counts: list[int] = []
    for k, seq in enumerate(sequences):
        arr = np.asarray(seq)
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise TokenizerError(
                f"sequence {k} must be a 1-D array of integer symbol codes, "
                f"got shape {arr.shape} and dtype {arr.dtype}"
            )
        if arr.size < 2:
            continue  # holds no pair
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= alphabet_size:
            bad = lo if lo < 0 else hi
            raise TokenizerError(
                f"sequence {k} holds symbol code {bad}, outside 0..{alphabet_size - 1}; "
                "symbolize with the same alphabet or raise alphabet_size"
            )
        codes = arr.astype(np.uint8, copy=False)
        digest = hashlib.blake2b(np.ascontiguousarray(codes).data, digest_size=16).digest()
        for j in first.get(digest, ()):
            if np.array_equal(unique[j], codes):
                counts[j] += 1
                break
        else:
            first.setdefault(digest, []).append(len(unique))
            unique.append(codes)
            counts.append(1)
    return unique, counts


def _train_arrays(
    seqs: list[np.ndarray],
    weights: list[int],
    n_merges: int,
    min_frequency: int,
    max_token_length: int | None,
    alphabet_size: int,
    progress: bool,
    always_window: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Lay out the corpus, run the kernels, return ``(pairs [n, 2], ids [n])`` int32."""
    from ecgbyte.bpe import _train_kernels as K

    _compile_all()
    empty = (np.zeros((0, 2), np.int32), np.zeros(0, np.int32))
    if not seqs or n_merges == 0:
        return empty
    # sequences with equal weight side by side, so a position's weight is one binary search away
    order = sorted(range(len(seqs)), key=lambda i: -weights[i])
    total = sum(len(s) for s in seqs) + len(seqs) + 1
    if total > _INT32_MAX:
        raise ConfigError(f"the corpus holds {total} symbols, more than 2**31 - 1; train on a sample")
    nodes = _alloc((3, total), np.int32)  # symbol, next/previous occurrence of its pair
    sym = nodes[0]
    sym[0] = K.SENT
    gstart: list[int] = []
    gw: list[int] = []
    pos = 1
    for i in order:
        if not gw or gw[-1] != weights[i]:
            gstart.append(pos)
            gw.append(weights[i])
        n = len(seqs[i])
        sym[pos : pos + n] = seqs[i]
        sym[pos + n] = K.SENT
        pos += n + 1
    state = _State(
        nodes,
        np.asarray(gstart, np.int64),
        np.asarray(gw, np.int64),
        alphabet_size,
        n_merges,
    )
    state.st[K.ALWAYS_WINDOW] = always_window  # recount windows of runs (the rare path) for tests
    max_len = _INT32_MAX if max_token_length is None else max_token_length
    state.init_heap(max_len)
    chunk = max(1, min(100, n_merges // 50))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_merges, desc="BPE merges", unit="merge")
        if not K.train_chunk.signatures:  # first call in this process: numba compiles or loads its cache
            bar.set_description("BPE merges (loading/compiling kernels, cached after the first run)")
    st = state.st
    try:
        while True:
            before = int(st[K.NOUT]) + 1
            todo = min(chunk, n_merges - before)
            if todo == 0 and st[K.PHASE] == 0:
                break
            code = K.train_chunk(
                *state.kernel_args(),
                todo,
                min_frequency,
                max_len,
                state.out_pairs,
                state.out_ids,
            )
            if bar is not None:
                bar.set_description("BPE merges", refresh=False)
                bar.update(int(st[K.NOUT]) + 1 - before)
            if code == K.STOP:
                break
            if code == K.NEED_TABLE:
                state.grow_table()
            elif code == K.NEED_HEAP:
                state.rebuild_heap(max_len)
            elif code == K.NEED_VBUF:
                state.vbuf = _grown(state.vbuf, 2 * state.vbuf.shape[0])
    finally:
        if bar is not None:
            bar.close()
    n = int(st[K.NOUT]) + 1
    return state.out_pairs[:n].copy(), state.out_ids[:n].copy()


@functools.cache
def _compile_all() -> None:
    """Compile (or load from numba's cache) ``rehash``, which a small first run may never reach,
    so that compiling happens in the first call and never in the middle of a long one."""
    from ecgbyte.bpe import _train_kernels as K

    keys, ints = np.full(1, K.EMPTY, np.int64), np.zeros(1, np.int32)
    table = (keys, np.zeros(1, np.int64), ints, ints)
    K.rehash(*table, keys.copy(), np.zeros(1, np.int64), ints.copy(), ints.copy(), ints.copy(),
             np.zeros(K.N_STATE, np.int64))  # fmt: skip


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


class _State:
    """The kernels' arrays; allocated and grown here, since the kernels never allocate."""

    def __init__(
        self,
        nodes: np.ndarray,
        gstart: np.ndarray,
        gw: np.ndarray,
        alphabet_size: int,
        n_merges: int,
    ):
        from ecgbyte.bpe import _train_kernels as K

        self.K = K
        self.nodes, self.gstart, self.gw = nodes, gstart, gw
        sym, self.onext, self.oprev = nodes
        self.sym = sym
        self.st = np.zeros(K.N_STATE, np.int64)
        self.st[K.NOUT] = -1
        cap = 64
        while cap < 4 * alphabet_size * alphabet_size:
            cap *= 2
        self._new_table(cap)
        dense = alphabet_size * alphabet_size
        K.init_state(
            sym, self.onext, self.oprev, *self.table, self.st, gstart, gw, alphabet_size,
            np.empty(dense, np.int64), np.empty(dense, np.int32), np.empty(dense, np.int32),
        )  # fmt: skip
        nv = alphabet_size + n_merges
        self.vlen = np.zeros(nv, np.int32)
        self.vlen[:alphabet_size] = 1
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

    def _new_table(self, cap: int) -> None:
        K = self.K
        self.tkey = np.full(cap, K.EMPTY, np.int64)
        self.tcnt = np.zeros(cap, np.int64)
        self.thead = np.full(cap, -1, np.int32)
        self.tstamp = np.full(cap, -1, np.int32)
        self.touched = np.zeros(cap, np.int32)

    @property
    def table(self) -> tuple[np.ndarray, ...]:
        return self.tkey, self.tcnt, self.thead, self.tstamp

    def grow_table(self) -> None:
        old = (self.tkey, self.tcnt, self.thead, self.touched)
        self._new_table(2 * self.tkey.shape[0])
        self.K.rehash(*old, self.tkey, self.tcnt, self.thead, self.tstamp, self.touched, self.st)

    def init_heap(self, max_len: int) -> None:
        size = 2 * int(self.st[self.K.USED]) + 64
        self.hcnt = np.zeros(size, np.int64)
        self.hkey = np.zeros(size, np.int64)
        self.K.init_heap(self.tkey, self.tcnt, self.vlen, max_len, self.hcnt, self.hkey, self.st)

    def rebuild_heap(self, max_len: int) -> None:
        """Drop the stale entries: queue every pair again with its current count (and grow)."""
        K, st = self.K, self.st
        size = max(self.hcnt.shape[0], 2 * int(st[K.USED] + st[K.NTOUCH]) + 64)
        if size > self.hcnt.shape[0]:
            self.hcnt = np.zeros(size, np.int64)
            self.hkey = np.zeros(size, np.int64)
        K.init_heap(self.tkey, self.tcnt, self.vlen, max_len, self.hcnt, self.hkey, st)

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        return (
            self.sym, self.onext, self.oprev, self.tkey, self.tcnt, self.thead, self.tstamp,
            self.touched, self.hcnt, self.hkey, self.vlen, self.vhash, self.vpow, self.voff, self.vbuf,
            self.gstart, self.gw, self.st,
        )  # fmt: skip
