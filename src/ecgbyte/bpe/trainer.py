"""The fast BPE trainer: validation, deduplication and progress around the numba kernels.

:func:`train` returns exactly what the pure-Python spec :func:`ecgbyte.bpe.reference.train` returns
(the tests compare them on random corpora), but incrementally: each merge touches only its own
occurrences and their neighbouring runs, never the whole corpus (the original ECG-Byte recounts
every pair after every merge). The data structures are described in
:mod:`ecgbyte.bpe._train_kernels` and the modules it lists: at most 4 bytes per corpus symbol (the
layout in int16 while every id and token length fits, :func:`_sym_dtype`, else int32; and lazy
occurrence lists of at most half an int32 per symbol, :mod:`ecgbyte.bpe._train_lists`), plus the
pair tables and queue (``benchmarks/scale_bench.py`` measures the peak from 10^8 to 10^9 symbols).

Merges with many occurrences run on several threads, one per partition of the corpus (see the
kernels' module); the result does not depend on the number of threads.

Kernels compile on the first call (about 40 s on an idle 2-core machine), then load from numba's
disk cache (about 1 s).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ecgbyte.bpe._train_state import _alloc, _grown, _State
from ecgbyte.bpe.merges import Merges, default_alphabet
from ecgbyte.errors import ConfigError, TokenizerError

_INT32_MAX = int(np.iinfo(np.int32).max)
_INT16_MAX = int(np.iinfo(np.int16).max)
# a trainer that replaces this one while set (ecgbyte.bpe.distributed: this process's share)
PARTITIONED: contextvars.ContextVar = contextvars.ContextVar("ecgbyte_bpe_partitioned", default=None)


def train(
    sequences: Iterable[Sequence[int] | np.ndarray],
    *,
    n_merges: int,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    alphabet_size: int = 26,
    progress: bool = False,
    threads: int | None = None,
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
    threads : int or None
        Threads to use (None: every core this process may run on). The corpus is cut into this
        many partitions at sequence boundaries; merges with many occurrences run one partition
        per thread. The merges are the same whatever the number of threads.

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
    hook = PARTITIONED.get()  # set by ecgbyte.bpe.distributed.partitioned(): one share per process
    if hook is not None:
        return hook(sequences, n_merges=n_merges, min_frequency=min_frequency, alphabet_size=alphabet_size,
                    max_token_length=max_token_length, progress=progress, threads=threads)  # fmt: skip
    alphabet = default_alphabet(alphabet_size)
    n_merges = _check_int("n_merges", n_merges, 0)
    min_frequency = _check_int("min_frequency", min_frequency, 1)
    if max_token_length is not None:
        max_token_length = _check_int("max_token_length", max_token_length, 1)
    threads = _default_threads() if threads is None else _check_int("threads", threads, 1)
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
        threads=threads,
    )
    return Merges(pairs=pairs, ids=ids, alphabet_size=alphabet_size, alphabet=alphabet)


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
    # digest of the uint8 codes -> positions in `unique` with that digest (a digest, not the codes,
    # so the index holds 16 bytes per sequence instead of a copy of the corpus)
    index: dict[bytes, list[int]] = {}
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
        lo, hi = (0, int(arr.max())) if arr.dtype == np.uint8 else (int(arr.min()), int(arr.max()))
        if lo < 0 or hi >= alphabet_size:
            bad = lo if lo < 0 else hi
            raise TokenizerError(
                f"sequence {k} holds symbol code {bad}, outside 0..{alphabet_size - 1}; "
                "symbolize with the same alphabet or raise alphabet_size"
            )
        codes = np.ascontiguousarray(arr, dtype=np.uint8)
        same = index.setdefault(hashlib.blake2b(codes, digest_size=16).digest(), [])
        for j in same:
            if np.array_equal(unique[j], codes):
                counts[j] += 1
                break
        else:
            same.append(len(unique))
            unique.append(codes)
            counts.append(1)
    return unique, counts


# a merge of a pair counted at least this often runs one partition per thread (below it, handing
# the work to threads costs more than it saves)
PARALLEL_MIN_COUNT = 200


def _train_arrays(
    seqs: list[np.ndarray],
    weights: list[int],
    n_merges: int,
    min_frequency: int,
    max_token_length: int | None,
    alphabet_size: int,
    progress: bool,
    always_window: bool = False,
    threads: int = 1,
    parallel_min_count: int | None = None,
    sym_dtype: type | None = None,
    pool_fraction: float | None = None,
    min_pool: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lay out the corpus, run the kernels, return ``(pairs [n, 2], ids [n])`` int32.

    ``sym_dtype`` forces the layout's integer type (tests); by default :func:`_sym_dtype` picks it.
    ``pool_fraction``/``min_pool`` size the occurrence pool (tests: a small pool forces rebuilds).
    """
    from ecgbyte.bpe import _train_kernels as K

    _compile_all()
    empty = (np.zeros((0, 2), np.int32), np.zeros(0, np.int32))
    if not seqs or n_merges == 0:
        return empty
    sym, gstart, gw, starts = _layout(seqs, weights, alphabet_size + n_merges, max_token_length, sym_dtype)
    total = sym.shape[0]
    n_parts = min(threads, len(starts))
    if parallel_min_count is None:
        parallel_min_count = PARALLEL_MIN_COUNT
    import numba

    _launch_numba_threads()
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_parts, numba.config.NUMBA_NUM_THREADS)))
    bar = None
    try:
        state = _State(
            sym,
            gstart,
            gw,
            alphabet_size,
            n_merges,
            bounds=_partition_bounds(starts, total, n_parts),
            always_window=always_window,
            pool_fraction=pool_fraction,
            min_pool=min_pool,
        )
        max_len = _INT32_MAX if max_token_length is None else max_token_length
        state.init_heap(max_len, min_frequency)
        chunk = max(1, min(100, n_merges // 50))
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_merges, desc="BPE merges", unit="merge")
            if not K.train_chunk.signatures:  # first call in this process: numba compiles or loads its cache
                bar.set_description("BPE merges (loading/compiling kernels, cached after the first run)")
        st = state.st
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
                parallel_min_count,
                state.codes,
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
                state.rebuild_heap(max_len, min_frequency)
            elif code == K.NEED_VBUF:
                state.vbuf = _grown(state.vbuf, 2 * state.vbuf.shape[0])
            elif code == K.NEED_SCAN:
                state.rescan()
    finally:
        if bar is not None:
            bar.close()
        numba.set_num_threads(numba_threads)
    n = int(st[K.NOUT]) + 1
    return state.out_pairs[:n].copy(), state.out_ids[:n].copy()


def _layout(
    seqs: list[np.ndarray],
    weights: list[int],
    n_ids: int,
    max_token_length: int | None,
    sym_dtype: type | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The corpus laid out for the kernels: ``(sym, gstart, gw, starts)``.

    ``sym`` holds ``S seq S seq ... S`` (``S = SENT``), sequences of equal weight side by side (so a
    position's weight is one binary search away: groups start at ``gstart`` with weight ``gw``);
    ``starts`` the sentinel before each sequence.
    """
    from ecgbyte.bpe import _train_kernels as K

    order = sorted(range(len(seqs)), key=lambda i: -weights[i])
    total = sum(len(s) for s in seqs) + len(seqs) + 1
    if total > _INT32_MAX:
        raise ConfigError(f"the corpus holds {total} symbols, more than 2**31 - 1; train on a sample")
    longest = max((len(s) for s in seqs), default=1)
    sym = _alloc((total,), sym_dtype or _sym_dtype(n_ids, longest, max_token_length))
    sym[0] = K.SENT
    gstart: list[int] = []
    gw: list[int] = []
    starts = np.empty(len(order), np.int64)
    pos = 1
    for j, i in enumerate(order):
        if not gw or gw[-1] != weights[i]:
            gstart.append(pos)
            gw.append(weights[i])
        starts[j] = pos - 1
        n = len(seqs[i])
        sym[pos : pos + n] = seqs[i]
        sym[pos + n] = K.SENT
        pos += n + 1
    if not gw:  # no sequence (a process of a distributed run may hold none)
        gstart, gw = [1], [1]
    return sym, np.asarray(gstart, np.int64), np.asarray(gw, np.int64), starts


def _sym_dtype(n_ids: int, longest_sequence: int, max_token_length: int | None) -> type:
    """The narrowest layout type: int16 when every token id (``< n_ids``) and every tail code
    ``-(length + 1)`` fits (a token is never longer than its sequence or ``max_token_length``),
    else int32. int16 halves the corpus layout (2 instead of 4 bytes per symbol).

    >>> _sym_dtype(26 + 10_000, 5000, None).__name__, _sym_dtype(32_769, 5000, None).__name__
    ('int16', 'int32')
    """
    longest = longest_sequence if max_token_length is None else min(longest_sequence, max_token_length)
    if n_ids <= _INT16_MAX + 1 and longest + 1 <= _INT16_MAX + 1:
        return np.int16
    return np.int32


@functools.cache
def _launch_numba_threads() -> None:
    """Start numba's thread pool with OpenMP's passive wait, unless the user chose a policy.

    Frequent merges hand a few microseconds of work to the pool thousands of times. OpenMP threads
    spin while they wait by default: on a machine where another process holds a core, each handoff
    then waits for the scheduler (measured: 13.5 s instead of 3.0 s at 30M symbols on 2 busy
    cores). Passive waiting costs about 10% on an idle machine and nothing under load. The variable
    is read when the OpenMP runtime starts, and is restored at once so that libraries loaded later
    (PyTorch's own OpenMP) keep their default.
    """
    import numba

    before = os.environ.get("OMP_WAIT_POLICY")
    if before is None:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba.get_num_threads()  # launches the pool
    finally:
        if before is None:
            del os.environ["OMP_WAIT_POLICY"]


def _partition_bounds(starts: np.ndarray, total: int, n_parts: int) -> list[tuple[int, int]]:
    """``n_parts`` ranges ``(lo, hi)`` of about equal size between sentinels (``starts``: the
    sentinel before each sequence; ``total - 1`` is the last one)."""
    cuts = [0]
    for k in range(1, n_parts):
        j = int(np.searchsorted(starts, k * total // n_parts))
        j = min(max(j, 1), len(starts) - 1)
        if starts[j] > cuts[-1]:
            cuts.append(int(starts[j]))
    cuts.append(total - 1)
    return list(itertools.pairwise(cuts))


@functools.cache
def _compile_all() -> None:
    """Compile (or load from numba's cache) the kernels before the first run needs them.

    ``rehash`` may never be reached by a small first run. ``merge_part`` is compiled on its own
    first: compiled while numba types its callers instead, it takes about three times as long
    (measured: 40 s against 130 s from an empty cache)."""
    from ecgbyte.bpe import _train_kernels as K

    keys, ints = np.full(1, K.EMPTY, np.int64), np.zeros(1, np.int32)
    table = (keys, np.zeros(1, np.int64), ints, ints)
    st = np.zeros(K.N_STATE, np.int64)
    K.rehash(*table, keys.copy(), np.zeros(1, np.int64), ints.copy(), ints.copy(), ints.copy(), st)
    one = np.ones(1, np.int64)
    for sym in (np.zeros(1, np.int16), ints):  # both layout types (see _sym_dtype)
        K.merge_part(
            sym, ints, ints, keys, table[1], ints, ints, ints, st, one, one, np.int64(0), np.int32(0)
        )  # fmt: skip (an empty table: returns at once)
        K.rebuild(sym, ints, ints, keys, table[1], ints, st, 0, 0, 1)
