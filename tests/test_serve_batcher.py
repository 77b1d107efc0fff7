"""The dynamic batcher on its own (no model): what goes into which batch, failures, order, limits."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ecgbyte.errors import ConfigError, RequestError
from ecgbyte.serve.batcher import Batcher


class Recorder:
    """A real ``process`` function: squares numbers, records every batch and the thread it ran on."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.delay = delay

    def __call__(self, payloads: list[int]) -> list[object]:
        import time

        self.threads.add(threading.current_thread().name)
        self.batches.append(list(payloads))
        time.sleep(self.delay)
        return [ValueError(f"bad {p}") if p < 0 else p * p for p in payloads]


def run(coro):
    return asyncio.run(coro)


async def _with(batcher: Batcher, body):
    await batcher.start()
    try:
        return await body()
    finally:
        await batcher.stop()


def test_concurrent_requests_share_a_batch() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=8, wait_ms=200)

    async def body():
        return await asyncio.gather(*(b.submit([i]) for i in range(8)))

    done = run(_with(b, body))
    assert [d[0].result for d in done] == [i * i for i in range(8)]
    assert rec.batches == [list(range(8))]  # full at 8: no need to wait out the 200 ms
    assert {d[0].batch_size for d in done} == {8} and b.batch_sizes == {8: 1}
    assert len(rec.threads) == 1 and next(iter(rec.threads)).startswith("ecgbyte-generate")


def test_batches_are_capped_and_the_queue_drains_in_order() -> None:
    rec = Recorder(delay=0.05)
    b = Batcher(rec, max_batch=3, wait_ms=100)

    async def body():
        return await asyncio.gather(*(b.submit([i]) for i in range(7)))

    done = run(_with(b, body))
    assert [d[0].result for d in done] == [i * i for i in range(7)]
    assert rec.batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_batching_off_runs_one_at_a_time() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=1, wait_ms=0)

    async def body():
        return await asyncio.gather(*(b.submit([i]) for i in range(4)))

    run(_with(b, body))
    assert rec.batches == [[0], [1], [2], [3]] and b.batch_sizes == {1: 4}


def test_a_failing_item_fails_alone_and_a_failing_batch_fails_all() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=4, wait_ms=100)

    async def body():
        return await asyncio.gather(b.submit([2]), b.submit([-1]), b.submit([3]), return_exceptions=True)

    good, bad, other = run(_with(b, body))
    assert good[0].result == 4 and other[0].result == 9
    assert isinstance(bad, ValueError) and str(bad) == "bad -1"

    def broken(payloads):
        raise RuntimeError("out of memory")

    b2 = Batcher(broken, max_batch=4, wait_ms=50)

    async def body2():
        return await asyncio.gather(b2.submit([1]), b2.submit([2]), return_exceptions=True)

    assert [str(e) for e in run(_with(b2, body2))] == ["out of memory", "out of memory"]


def test_calls_run_alone_between_batches() -> None:
    rec = Recorder()
    b = Batcher(rec, max_batch=8, wait_ms=100)
    seen = []

    async def body():
        first = asyncio.ensure_future(b.submit([1]))
        await asyncio.sleep(0)
        call = asyncio.ensure_future(b.call(lambda: seen.append(list(rec.batches)) or "called"))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(b.submit([2]))
        return await first, await call, await second

    first, call, second = run(_with(b, body))
    assert call.result == "called" and call.batch_size == 1
    assert seen == [[[1]]]  # the call ran between the two batches, alone
    assert rec.batches == [[1], [2]] and first[0].result == 1 and second[0].result == 4


def test_a_lone_request_does_not_wait_but_one_on_its_way_is_waited_for() -> None:
    import time

    rec = Recorder()
    b = Batcher(rec, max_batch=8, wait_ms=20_000)  # a wait this long would time the test out

    async def body():
        t = time.perf_counter()
        lone = await b.submit([1])  # nothing else queued or on its way: runs at once
        assert time.perf_counter() - t < 10

        async def later():
            with b.expect():  # reading and encoding an upload
                await asyncio.sleep(0.2)
            return await b.submit([3])

        coming = asyncio.ensure_future(later())
        await asyncio.sleep(0)
        first = await b.submit([2])  # waits for the request on its way, then runs with it at once
        return lone, first, await coming, time.perf_counter() - t

    lone, first, second, elapsed = run(_with(b, body))
    assert rec.batches == [[1], [2, 3]] and elapsed < 10
    assert (lone[0].batch_size, first[0].batch_size, second[0].batch_size) == (1, 2, 2)


def test_the_queue_is_bounded() -> None:
    rec = Recorder(delay=0.2)
    b = Batcher(rec, max_batch=1, wait_ms=0, max_queue=2)

    async def body():
        running = asyncio.ensure_future(b.submit([1]))
        await asyncio.sleep(0.05)  # the first item is generating, the queue is empty again
        with pytest.raises(RequestError, match="busy") as info:
            await b.submit([2, 3, 4])  # all or none
        assert info.value.status == 503 and info.value.code == "queue_full"
        queued = asyncio.ensure_future(b.submit([2, 3]))
        await asyncio.sleep(0)
        assert b.queued == 2
        with pytest.raises(RequestError):
            await b.submit([5])
        return await running, await queued

    first, rest = run(_with(b, body))
    assert first[0].result == 1 and [d.result for d in rest] == [4, 9]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_batch >= 1"):
        Batcher(lambda x: x, max_batch=0)
    b = Batcher(lambda x: x)
    with pytest.raises(RequestError, match="not running"):
        run(b.submit([1]))
