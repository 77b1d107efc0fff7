"""One BPE vocabulary over several processes: each holds a share of the corpus, counts are summed.

Every process lays out and merges only its own sequences (its pair tables and occurrence lists,
as :func:`ecgbyte.bpe.train` does per thread) and keeps a replica of the global queue and
vocabulary. Per merge the processes agree through three kinds of collective:

- the count of the pair at the top of the queue: one ``all_reduce`` of one int64 per entry popped
  (the queue is lazy: an entry whose pair's count changed since it was queued is requeued);
- the pairs whose counts grew in this merge in any process: an ``all_gather`` of their keys (after
  one of their number, since gloo gathers equal sizes);
- their global counts: one ``all_reduce``, after which every process queues them identically.

All processes pick the same pair each time (highest count, then lowest ``(left, right)``), so the
merges equal a single process's on the whole corpus, byte for byte (the tests compare them with
the spec). The collectives are ``torch.distributed`` (gloo on CPU, a gloo group of its own when the
default group is NCCL), imported only when a run is distributed, so torch stays out of the
tokenizer's import path; launch with ``torchrun --nproc_per_node N -m ecgbyte.cli train-tokenizer ...``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ecgbyte.bpe import trainer as T
from ecgbyte.bpe.merges import Merges, default_alphabet
from ecgbyte.errors import ConfigError

_INIT_LOCK = threading.Lock()  # numba's parallel init kernel, when ranks are threads (the tests)


class Comm:
    """The collectives the trainer needs; subclasses move the data. Counts what they send."""

    rank: int = 0
    size: int = 1

    def __init__(self) -> None:
        self.stats = {"calls": 0, "bytes": 0, "seconds": 0.0, "merges": 0}

    def _sum(self, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Wait for the other processes and release what this object started (nothing here)."""

    def _gather(self, a: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def allreduce(self, a: np.ndarray) -> np.ndarray:
        """Element-wise sum of an int64 array over the processes."""
        t0 = time.perf_counter()
        out = self._sum(np.ascontiguousarray(a, np.int64))
        self._count(a.nbytes, t0)
        return out

    def union(self, keys: np.ndarray) -> np.ndarray:
        """Sorted distinct int64 values held by any process."""
        t0 = time.perf_counter()
        sizes = self._sum_gather_sizes(keys.shape[0])
        padded = np.full(max(sizes), -1, np.int64)
        padded[: keys.shape[0]] = keys
        parts = self._gather(padded)
        self._count(8 + padded.nbytes, t0, calls=2)
        out = np.unique(np.concatenate([p[:n] for p, n in zip(parts, sizes, strict=True)]))
        return out.astype(np.int64)

    def _sum_gather_sizes(self, n: int) -> list[int]:
        return [int(p[0]) for p in self._gather(np.array([n], np.int64))]

    def _count(self, nbytes: int, t0: float, calls: int = 1) -> None:
        self.stats["calls"] += calls
        self.stats["bytes"] += nbytes
        self.stats["seconds"] += time.perf_counter() - t0


class TorchComm(Comm):
    """``torch.distributed`` collectives on CPU tensors (gloo), starting the process group from
    torchrun's environment if none is running."""

    def __init__(self) -> None:
        super().__init__()
        import torch
        import torch.distributed as dist

        self._torch, self._dist = torch, dist
        self._owns_group = not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group("gloo")
        self._group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def _sum(self, a: np.ndarray) -> np.ndarray:
        t = self._torch.from_numpy(a.copy())
        self._dist.all_reduce(t, group=self._group)
        return t.numpy()

    def _gather(self, a: np.ndarray) -> list[np.ndarray]:
        t = self._torch.from_numpy(a.copy())
        parts = [self._torch.empty_like(t) for _ in range(self.size)]
        self._dist.all_gather(parts, t, group=self._group)
        return [p.numpy() for p in parts]

    def close(self) -> None:
        """A barrier, then the process group is destroyed if this object started it: a process that
        exits with gloo's threads still running aborts ("terminate called without an active
        exception"), which torchrun reports as a failed run."""
        self._dist.barrier(group=self._group)
        if self._owns_group:
            self._dist.destroy_process_group()


class ThreadComm(Comm):
    """Ranks as threads of one process (tests): ``ThreadComm.group(n)`` gives one per rank."""

    def __init__(self, rank: int, shared: dict) -> None:
        super().__init__()
        self.rank, self.size, self._shared = rank, shared["size"], shared

    @classmethod
    def group(cls, n: int) -> list[ThreadComm]:
        shared = {"size": n, "barrier": threading.Barrier(n), "slots": [None] * n}
        return [cls(r, shared) for r in range(n)]

    def _gather(self, a: np.ndarray) -> list[np.ndarray]:
        sh = self._shared
        sh["slots"][self.rank] = a.copy()
        sh["barrier"].wait()
        out = [s.copy() for s in sh["slots"]]
        sh["barrier"].wait()  # everyone has read before the slots are reused
        return out

    def _sum(self, a: np.ndarray) -> np.ndarray:
        return np.sum(self._gather(a), axis=0).astype(np.int64)


def env_world() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's environment (``(0, 1)`` outside it)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


@contextlib.contextmanager
def partitioned(comm: Comm | None = None) -> Iterator[Comm]:
    """While open, :func:`ecgbyte.bpe.train` in this process trains on its share of the sequences
    it is given (every ``size``-th one from ``rank``) together with the other processes.

    Every process must pass the same sequences in the same order (as ``train-tokenizer`` does: each
    reads and samples the source identically), so the shares partition the corpus.
    """
    owned = comm is None
    comm = comm if comm is not None else TorchComm()

    def hook(sequences: Iterable, **options: Any) -> Merges:
        share = [s for i, s in enumerate(sequences) if i % comm.size == comm.rank]
        return train_distributed(share, comm=comm, **options)

    # for callers that read their own share (ecgbyte.tokenizer_stream): who this process is, and
    # training on sequences that are already this process's share
    hook.share = (comm.rank, comm.size)  # type: ignore[attr-defined]
    hook.train_share = functools.partial(train_distributed, comm=comm)  # type: ignore[attr-defined]
    token = T.PARTITIONED.set(hook)
    try:
        yield comm
    finally:
        T.PARTITIONED.reset(token)
    if owned:  # on success only: after an error the others may be inside a collective
        comm.close()


def train_distributed(
    sequences: Iterable[Sequence[int] | np.ndarray],
    *,
    n_merges: int,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    alphabet_size: int = 26,
    progress: bool = False,
    threads: int | None = None,
    comm: Comm | None = None,
    return_stats: bool = False,
) -> Merges | tuple[Merges, dict]:
    """Train on this process's ``sequences`` together with the other processes of ``comm``.

    Options as :func:`ecgbyte.bpe.train` (every process must pass the same). Returns the merges
    of the whole corpus (the same in every process), and with ``return_stats`` the communication
    totals ``{"calls", "bytes", "seconds", "merges"}`` of this process (bytes it contributed).
    """
    from ecgbyte.bpe import _train_dist as D
    from ecgbyte.bpe import _train_kernels as K

    comm = comm if comm is not None else TorchComm()
    n_merges = T._check_int("n_merges", n_merges, 0)
    min_frequency = T._check_int("min_frequency", min_frequency, 1)
    if max_token_length is not None:
        max_token_length = T._check_int("max_token_length", max_token_length, 1)
    threads = T._default_threads() if threads is None else T._check_int("threads", threads, 1)
    if alphabet_size + n_merges > T._INT32_MAX:
        raise ConfigError(f"n_merges={n_merges} gives more token ids than int32 holds; lower it")
    seqs, weights = T._dedupe(sequences, alphabet_size)
    if comm.rank == 0:  # one process fills numba's disk cache, then the others load it
        _compile(D)
    comm.allreduce(np.zeros(1, np.int64))
    if comm.rank != 0:
        _compile(D)
    sym, gstart, gw, starts = T._layout(seqs, weights, alphabet_size + n_merges, max_token_length)
    n_parts = max(1, min(threads, len(starts)))
    with _INIT_LOCK:
        state = T._State(
            sym, gstart, gw, alphabet_size, n_merges,
            bounds=T._partition_bounds(starts, sym.shape[0], n_parts),
        )  # fmt: skip
    max_len = T._INT32_MAX if max_token_length is None else max_token_length
    step = _Stepper(state, comm, D, K, max_len, min_frequency)
    step.queue(step.local_keys(D.table_keys))
    import numba

    T._launch_numba_threads()
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_parts, numba.config.NUMBA_NUM_THREADS)))
    bar = None
    if progress and comm.rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_merges, desc="BPE merges", unit="merge")
    try:
        for _ in range(n_merges):
            if not step.merge(min_frequency):
                break
            comm.stats["merges"] += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        numba.set_num_threads(numba_threads)
    n = int(state.st[K.NOUT]) + 1
    merges = Merges(
        pairs=state.out_pairs[:n].copy(), ids=state.out_ids[:n].copy(), alphabet_size=alphabet_size,
        alphabet=default_alphabet(alphabet_size),
    )  # fmt: skip
    return (merges, dict(comm.stats)) if return_stats else merges


def _compile(D: Any) -> None:
    """Compile (or load) every kernel a distributed run calls, on empty inputs."""
    from ecgbyte.bpe import _train_kernels as K

    T._compile_all()
    keys, ints = np.full(1, K.EMPTY, np.int64).reshape(1, 1), np.zeros((1, 1), np.int32)
    st, pst = np.zeros(K.N_STATE, np.int64), np.zeros((1, K.N_STATE), np.int64)
    none = np.zeros(0, np.int64)
    D.local_counts(keys, np.zeros((1, 1), np.int64), none, none)
    D.grown_keys(keys, ints, ints, pst, np.int64(0), none)
    D.table_keys(keys, np.zeros(1, np.int64))
    heap = np.zeros(2, np.int64)
    D.push_all(heap, heap.copy(), st, none, none, np.ones(1, np.int32), 1, 1)
    D.push(heap, heap.copy(), st, np.int64(1), np.int64(0))
    D.pop(heap, heap.copy(), st, np.zeros(2, np.int64))
    st[K.VSIZE], st[K.VBUF] = 2, 2
    vlen, h = np.array([1, 1, 0], np.int32), np.zeros(3, np.uint64)
    D.new_id(0, 1, vlen, h, h.copy(), np.array([0, 1, 0]), np.array([0, 1, 0, 0, 0], np.int32), st)


class _Stepper:
    """One process's side of each merge: pick the pair with the others, merge locally, requeue."""

    def __init__(self, state: Any, comm: Comm, D: Any, K: Any, max_len: int, min_count: int) -> None:
        self.s, self.comm, self.D, self.K, self.max_len = state, comm, D, K, max_len
        self.min_count = min_count  # rarer pairs are never queued (they can never be picked)
        self.hcnt = np.zeros(64, np.int64)
        self.hkey = np.zeros(64, np.int64)
        self.top = np.zeros(2, np.int64)

    def local_keys(self, collect: Callable) -> np.ndarray:
        s = self.s
        buf = np.empty(max(1, int(s.tkey.shape[0] * s.tkey.shape[1])), np.int64)
        return buf[: collect(s.tkey, buf)].copy()

    def queue(self, keys: np.ndarray) -> None:
        """Queue the union over the processes of ``keys`` with their global counts."""
        s, K = self.s, self.K
        union = self.comm.union(keys)
        local = np.zeros(union.shape[0], np.int64)
        self.D.local_counts(s.tkey, s.tcnt, union, local)
        counts = self.comm.allreduce(local)
        need = int(s.st[K.HSIZE]) + union.shape[0]
        if need > self.hcnt.shape[0]:
            self.hcnt = T._grown(self.hcnt, 2 * need)
            self.hkey = T._grown(self.hkey, 2 * need)
        self.D.push_all(self.hcnt, self.hkey, s.st, counts, union, s.vlen, self.max_len, self.min_count)

    def merge(self, min_frequency: int) -> bool:
        """Pick and merge the next pair; False when none reaches ``min_frequency``."""
        s, K, D = self.s, self.K, self.D
        st = s.st
        one = np.zeros(1, np.int64)
        while True:
            if st[K.HSIZE] == 0:
                return False
            D.pop(self.hcnt, self.hkey, st, self.top)
            cnt, key = int(self.top[0]), int(self.top[1])
            D.local_counts(s.tkey, s.tcnt, np.array([key], np.int64), one)
            now = int(self.comm.allreduce(one)[0])
            if now == cnt:
                break
            if min_frequency <= now < cnt:  # fell since queued: requeue (room: one entry was popped)
                D.push(self.hcnt, self.hkey, st, now, key)
        if cnt < min_frequency:
            return False
        if st[K.VBUF] + 2 * st[K.MAXLEN] > s.vbuf.shape[0]:
            s.vbuf = T._grown(s.vbuf, 2 * s.vbuf.shape[0])
        new = D.new_id(key >> 32, key & 0xFFFFFFFF, s.vlen, s.vhash, s.vpow, s.voff, s.vbuf, st)
        n = int(st[K.NOUT]) + 1
        st[K.NOUT] = n
        s.out_pairs[n] = (key >> 32, key & 0xFFFFFFFF)
        s.out_ids[n] = new
        s.pst[:, K.NTOUCH] = 0
        s.pst[:, K.NOUT] = n
        st[K.CURKEY] = key
        while True:  # a partition that must grow its table resumes where it stopped
            if s.n_parts > 1 and cnt >= T.PARALLEL_MIN_COUNT:  # one partition per thread
                K.merge_parts(
                    s.sym, s.vlen, s.pool, s.tkey, s.tcnt, s.thead, s.tstamp, s.touched,
                    s.pst, s.gstart, s.gw, np.int64(key), np.int32(new), s.codes,
                )  # fmt: skip
                codes = s.codes.tolist()
            else:
                codes = [
                    K.merge_part(
                        s.sym, s.vlen, s.pool[q], s.tkey[q], s.tcnt[q], s.thead[q], s.tstamp[q],
                        s.touched[q], s.pst[q], s.gstart, s.gw, np.int64(key), np.int32(new),
                    )
                    for q in range(s.n_parts)
                ]  # fmt: skip
            if K.NEED_SCAN in codes:  # the pair is untracked in a partition: list it there
                s.rescan()
            elif K.NEED_TABLE in codes:
                s.grow_table()
            else:
                break
        grown = np.empty(max(1, int(s.pst[:, K.NTOUCH].sum())), np.int64)
        m = D.grown_keys(s.tkey, s.tstamp, s.touched, s.pst, np.int64(key), grown)
        self.queue(grown[:m])
        return True
