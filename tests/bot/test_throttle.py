"""The edit coalescer keeps only the newest edit and respects intervals and budgets."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.throttle import EditCoalescer, TokenBucket


def recorder(log: list[tuple[str, float]], label: str):
    async def edit() -> None:
        log.append((label, time.monotonic()))

    return edit


async def test_burst_of_edits_runs_first_and_newest_only() -> None:
    coalescer = EditCoalescer(min_interval=0.2)
    log: list[tuple[str, float]] = []

    for n in range(10):
        coalescer.submit("msg", recorder(log, f"edit-{n}"))
        await asyncio.sleep(0)
    await coalescer.drain("msg")

    assert [label for label, _ in log] == ["edit-0", "edit-9"]


async def test_edits_of_one_message_are_spaced_by_min_interval() -> None:
    coalescer = EditCoalescer(min_interval=0.15)
    log: list[tuple[str, float]] = []

    coalescer.submit("msg", recorder(log, "a"))
    await asyncio.sleep(0.01)
    coalescer.submit("msg", recorder(log, "b"))
    await coalescer.drain("msg")

    assert log[1][1] - log[0][1] >= 0.14


async def test_different_messages_do_not_wait_for_each_other() -> None:
    coalescer = EditCoalescer(min_interval=5)
    log: list[tuple[str, float]] = []

    coalescer.submit("one", recorder(log, "one"))
    coalescer.submit("two", recorder(log, "two"))
    both = asyncio.gather(coalescer.drain("one"), coalescer.drain("two"))
    await asyncio.wait_for(both, 1)

    assert sorted(label for label, _ in log) == ["one", "two"]


async def test_closing_runs_the_pending_edit_without_waiting_out_the_interval() -> None:
    coalescer = EditCoalescer(min_interval=60)
    log: list[tuple[str, float]] = []

    coalescer.submit("msg", recorder(log, "first"))
    await asyncio.sleep(0.01)
    coalescer.submit("msg", recorder(log, "final"))
    await asyncio.wait_for(coalescer.aclose(), 5)

    assert [label for label, _ in log] == ["first", "final"]


async def test_closing_after_the_last_edit_does_not_wait_out_the_interval() -> None:
    coalescer = EditCoalescer(min_interval=60)
    log: list[tuple[str, float]] = []

    coalescer.submit("msg", recorder(log, "only"))
    await coalescer.drain("msg")
    await asyncio.wait_for(coalescer.aclose(), 5)

    assert [label for label, _ in log] == ["only"]


async def test_shared_bucket_caps_edits_across_messages() -> None:
    bucket = TokenBucket(rate=20, burst=1)
    coalescer = EditCoalescer(min_interval=0)
    log: list[tuple[str, float]] = []
    started = time.monotonic()

    for n in range(6):
        coalescer.submit(f"msg-{n}", recorder(log, str(n)), bucket)
    await asyncio.gather(*(coalescer.drain(f"msg-{n}") for n in range(6)))

    assert len(log) == 6
    # One token up front, then one every 50 ms: five waits.
    assert time.monotonic() - started >= 0.2


async def test_failed_edit_does_not_stop_the_next_one() -> None:
    coalescer = EditCoalescer(min_interval=0)
    log: list[tuple[str, float]] = []

    async def broken() -> None:
        raise RuntimeError("platform said no")

    coalescer.submit("msg", broken)
    await coalescer.drain("msg")
    coalescer.submit("msg", recorder(log, "after"))
    await coalescer.drain("msg")

    assert [label for label, _ in log] == ["after"]


async def test_paused_bucket_waits_out_retry_after() -> None:
    bucket = TokenBucket(rate=100, burst=5)
    bucket.pause(0.2)
    started = time.monotonic()

    await bucket.acquire()

    assert time.monotonic() - started >= 0.19


def test_bucket_rejects_nonsense_rates() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0)


async def _grants_within(buckets: list[TokenBucket], seconds: float) -> int:
    """How many tokens ``buckets``, each drawn on as fast as it allows, grant."""
    granted = 0

    async def draw(bucket: TokenBucket) -> None:
        nonlocal granted
        while True:
            await bucket.acquire()
            granted += 1

    drawers = [asyncio.create_task(draw(b)) for b in buckets]
    await asyncio.sleep(seconds)
    for drawer in drawers:
        drawer.cancel()
    await asyncio.gather(*drawers, return_exceptions=True)
    return granted


async def test_two_replicas_together_get_no_more_than_one_alone() -> None:
    rate, burst = 50.0, 4
    started = time.monotonic()
    pair = [TokenBucket(rate, burst, share=lambda: 2) for _ in range(2)]

    granted = await _grants_within(pair, 0.3)

    # A bucket of its own grants its burst plus ``rate`` a second; the pair split
    # that (unshared, the two would grant about twice as much: ~38 here).
    alone_at_most = burst + rate * (time.monotonic() - started)
    assert granted <= alone_at_most + 1
    assert granted >= 0.5 * (burst + rate * 0.3)


async def test_a_replica_joining_halves_the_pace_at_once() -> None:
    replicas = 1
    bucket = TokenBucket(rate=50.0, share=lambda: replicas)
    await _grants_within([bucket], 0.1)

    replicas = 2
    started = time.monotonic()
    granted = await _grants_within([bucket], 0.3)

    assert granted <= 1 + 25.0 * (time.monotonic() - started) + 1


async def test_a_shared_coalescer_stretches_the_interval_by_the_share() -> None:
    coalescer = EditCoalescer(min_interval=0.1, share=lambda: 3)
    log: list[tuple[str, float]] = []

    coalescer.submit("msg", recorder(log, "a"))
    await asyncio.sleep(0.01)
    coalescer.submit("msg", recorder(log, "b"))
    await coalescer.drain("msg")

    assert log[1][1] - log[0][1] >= 0.29
