"""Adaptive micro-batching: concurrent submissions share model calls; a full queue is a 429."""
import asyncio
import threading

import pytest

from openeyes.serving.batching import BatchPolicy, MicroBatcher
from openeyes.serving.errors import ApiError


def test_concurrent_items_are_batched_and_results_stay_in_order():
    sizes = []

    def double(items):
        sizes.append(len(items))
        return [2 * x for x in items]

    batcher = MicroBatcher(double, BatchPolicy(max_batch=16, max_wait_ms=50, max_queue=1000))

    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in range(64)))

    assert asyncio.run(main()) == [2 * i for i in range(64)]
    assert max(sizes) > 1 and max(sizes) <= 16 and sum(sizes) == 64 and len(sizes) < 64


def test_errors_reach_every_waiter_and_full_queue_is_429():
    gate = threading.Event()

    def slow(items):
        gate.wait(5)
        raise ValueError("model failed")

    batcher = MicroBatcher(slow, BatchPolicy(max_batch=1, max_wait_ms=0, max_queue=3))

    async def main():
        first = asyncio.ensure_future(batcher.submit_many([1, 2, 3]))
        await asyncio.sleep(0.2)  # the worker holds item 1; items 2 and 3 wait in the queue
        with pytest.raises(ApiError) as full:
            await batcher.submit_many([4, 5])
        gate.set()
        with pytest.raises(ValueError, match="model failed"):
            await first
        return full.value.status

    assert asyncio.run(main()) == 429


def test_a_failing_batch_is_bisected_so_only_the_bad_items_fail():
    calls = []

    def strict_double(items):
        calls.append(len(items))
        if any(x < 0 for x in items):
            raise ValueError(f"negative item in {items}")
        return [2 * x for x in items]

    batcher = MicroBatcher(strict_double, BatchPolicy(max_batch=32, max_wait_ms=200, max_queue=1000))
    values = list(range(30)) + [-1, -2, -3]

    async def main():
        return await asyncio.gather(*(batcher.submit(x) for x in values), return_exceptions=True)

    results = asyncio.run(main())
    assert results[:30] == [2 * x for x in range(30)]
    assert all(isinstance(r, ValueError) and str(x) in str(r) for x, r in zip(values[30:], results[30:]))
    assert max(calls) > 1 and len(calls) < len(values) * 2  # batched, and the isolation stayed cheap


def test_idle_gap_starts_a_lone_item_early_and_gathers_a_burst_whole():
    import asyncio
    import time

    calls: list[int] = []

    def record(items):
        calls.append(len(items))
        return items

    batcher = MicroBatcher(record, BatchPolicy(max_batch=64, max_wait_ms=120_000, max_queue=100, idle_gap_ms=2000))

    async def lone() -> float:
        began = time.perf_counter()
        await batcher.submit(1)
        return time.perf_counter() - began

    assert asyncio.run(lone()) < 60  # the gap ends the wait, long before max_wait_ms

    async def burst() -> None:  # 20 items, one every 1 ms: each well within the gap of the last
        async def one(i):
            await asyncio.sleep(0.001 * i)
            return await batcher.submit(i)

        assert await asyncio.gather(*(one(i) for i in range(20))) == list(range(20))

    calls.clear()
    asyncio.run(burst())
    assert calls == [20]


def _closed_loop(batcher, clients: int, rounds: int) -> None:
    """``clients`` callers, each submitting ``rounds`` times in a row (the next as soon as the last returns)."""
    import asyncio

    async def caller(c: int) -> None:
        for r in range(rounds):
            assert await batcher.submit(c * 1000 + r) == c * 1000 + r
            await asyncio.sleep(0.005 * c)  # each client's own turnaround: spread wider than the idle gap

    async def main() -> None:
        await asyncio.gather(*(caller(c) for c in range(clients)))

    asyncio.run(main())


def test_refill_keeps_closed_loop_callers_in_full_batches_instead_of_two_alternating_cohorts():
    import time

    calls: list[int] = []

    def slow_identity(items):
        calls.append(len(items))
        time.sleep(0.02)
        return items

    policy = BatchPolicy(max_batch=16, max_wait_ms=25, max_queue=100, idle_gap_ms=3, refill_ms=120_000)
    batcher = MicroBatcher(slow_identity, policy)
    _closed_loop(batcher, clients=16, rounds=6)
    # whatever the first batches were, every later batch waits for all 16 callers to be back
    # (a cohort left out would hang this test for the two-minute window, not pass it)
    assert sum(calls) == 96 and calls[-1] == 16 and calls.count(16) >= 4


def test_refill_never_delays_a_lone_caller_and_is_bounded_when_callers_do_not_return():
    import asyncio
    import time

    batcher = MicroBatcher(lambda items: items, BatchPolicy(max_batch=16, max_wait_ms=25, max_queue=100, idle_gap_ms=3,
                                                            refill_ms=120_000))
    began = time.perf_counter()
    _closed_loop(batcher, clients=1, rounds=5)  # target 1: its own return fills the batch
    assert time.perf_counter() - began < 60

    bounded = MicroBatcher(lambda items: items, BatchPolicy(max_batch=16, max_wait_ms=25, max_queue=100, idle_gap_ms=3,
                                                            refill_ms=3000))

    async def four_then_one() -> float:
        assert await asyncio.gather(*(bounded.submit(i) for i in range(4))) == [0, 1, 2, 3]
        started = time.perf_counter()
        assert await bounded.submit(9) == 9  # the other three never come back: it waits out the window
        return time.perf_counter() - started

    waited = asyncio.run(four_then_one())
    assert 1.0 < waited < 60
