"""Dynamic batching: requests that arrive within a few milliseconds are generated as one batch.

One asyncio task collects work from a queue: it waits for a first item, then keeps taking
items until ``max_batch`` are gathered or ``wait_ms`` have passed, and hands the batch to one
worker thread (the model is used by that thread only, so nothing else needs a lock). While
the thread generates, new requests queue up and form the next batch, so under load batches
fill without waiting. ``max_batch=1, wait_ms=0`` is batching off: one item at a time.

It waits only for work that is on its way: callers wrap what comes before :meth:`Batcher.submit`
(reading and encoding an upload) in :meth:`Batcher.expect`, and when the queue is empty and no
request is on its way the batch starts at once, so a lone request pays no batching delay.

The queue is bounded (``max_queue`` items): :meth:`Batcher.submit` raises a
:class:`~ecgbyte.errors.RequestError` (503) rather than letting waits grow without end. An
exception from ``process`` for one item fails that item only; an exception from the whole
batch fails every item in it. :meth:`Batcher.call` runs a function alone on the same thread
(e.g. an attention pass that switches the model's attention kernel).

This module knows nothing of ECGs or models: ``process(payloads) -> results`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ecgbyte.errors import ConfigError, RequestError


@dataclass
class Done:
    """One finished item: its ``result``, the size of the batch it ran in and its waits (ms)."""

    result: Any
    batch_size: int
    queue_ms: float
    run_ms: float


@dataclass
class _Item:
    payload: Any
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)
    call: Callable[[], Any] | None = None


class Batcher:
    """Collect submitted payloads into batches for ``process`` (see the module docstring).

    Parameters
    ----------
    process : ``list of payloads -> list of results`` (same order and length; an item's result
        may be an exception instance, raised to that item's caller). Runs on the worker thread.
    max_batch : most payloads per batch (1: no batching).
    wait_ms : how long the first item of a batch waits for others (0: take what is queued).
    max_queue : most items waiting; more are refused with 503.
    """

    def __init__(
        self,
        process: Callable[[list[Any]], Sequence[Any]],
        *,
        max_batch: int = 16,
        wait_ms: float = 5.0,
        max_queue: int = 256,
    ) -> None:
        if max_batch < 1 or wait_ms < 0 or max_queue < 1:
            raise ConfigError(
                f"batching needs max_batch >= 1, wait_ms >= 0 and max_queue >= 1 (got {max_batch}, "
                f"{wait_ms}, {max_queue})"
            )
        self.process, self.max_batch, self.wait_s, self.max_queue = (
            process,
            max_batch,
            wait_ms / 1e3,
            max_queue,
        )
        self._queue: asyncio.Queue[_Item] | None = None
        self._held: _Item | None = None
        self._task: asyncio.Task | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.on_the_way = 0  # requests inside expect(): their items will come soon
        self.batch_sizes: Counter[int] = Counter()  # batch size -> batches run (for /health, benchmarks)

    @property
    def queued(self) -> int:
        """Items waiting (not yet in a running batch)."""
        return (self._queue.qsize() if self._queue else 0) + (self._held is not None)

    async def start(self) -> None:
        """Start the collector task and the worker thread (call from the serving event loop)."""
        self._queue = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecgbyte-generate")
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        """Stop collecting, fail what is still queued, and let the worker thread finish."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(
                    RequestError("the server is shutting down", status=503, code="shutdown")
                )
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _admit(self, n: int) -> None:
        if self._queue is None:
            raise RequestError("the generator is not running", status=503, code="not_ready")
        if self.queued + n > self.max_queue:
            raise RequestError(
                f"the server is busy ({self.queued} items queued, limit {self.max_queue}); retry shortly",
                status=503,
                code="queue_full",
            )

    @contextlib.contextmanager
    def expect(self) -> Iterator[None]:
        """Mark a request as on its way (its items will be submitted soon), so a batch waits for it."""
        self.on_the_way += 1
        try:
            yield
        finally:
            self.on_the_way -= 1

    async def submit(self, payloads: Sequence[Any]) -> list[Done]:
        """Queue ``payloads`` (all or none: 503 if they do not fit) and wait for their results."""
        self._admit(len(payloads))
        loop = asyncio.get_running_loop()
        items = [_Item(p, loop.create_future()) for p in payloads]
        for it in items:
            self._queue.put_nowait(it)
        return list(await asyncio.gather(*(it.future for it in items)))

    async def call(self, fn: Callable[[], Any]) -> Done:
        """Run ``fn()`` alone on the worker thread, in queue order; returns its :class:`Done`."""
        self._admit(1)
        item = _Item(None, asyncio.get_running_loop().create_future(), call=fn)
        self._queue.put_nowait(item)
        return await item.future

    async def _next(self, timeout: float | None) -> _Item | None:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return None if self._queue.empty() else self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            batch = [first]
            if first.call is None:
                deadline = loop.time() + self.wait_s
                while len(batch) < self.max_batch:
                    nothing_coming = self.on_the_way == 0 and self._queue.empty() and self._held is None
                    item = await self._next(0 if nothing_coming else deadline - loop.time())
                    if item is None:
                        break
                    if item.call is not None:  # runs alone, next
                        self._held = item
                        break
                    batch.append(item)
            batch = [it for it in batch if not it.future.done()]  # callers that gave up
            if batch:
                await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        start = time.perf_counter()
        try:
            if batch[0].call is not None:
                results: Sequence[Any] = [await loop.run_in_executor(self._pool, batch[0].call)]
            else:
                results = await loop.run_in_executor(self._pool, self.process, [it.payload for it in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"process returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            results = [exc] * len(batch)
        end = time.perf_counter()
        if batch[0].call is None:
            self.batch_sizes[len(batch)] += 1
        for it, res in zip(batch, results):
            if it.future.done():
                continue
            if isinstance(res, BaseException):
                it.future.set_exception(res)
            else:
                it.future.set_result(Done(res, len(batch), (start - it.queued) * 1e3, (end - start) * 1e3))


__all__ = ["Batcher", "Done"]
