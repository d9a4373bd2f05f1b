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
