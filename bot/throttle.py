"""Coalescing of status-message edits under platform rate limits.

Progress arrives faster than chat platforms let us edit messages: Discord buckets
edits per channel (about one a second sustained) and Slack's ``chat.update`` is
Tier 3, about 50 a minute for a whole workspace. Rather than queue every edit, each
status message keeps only its newest pending edit ("latest wins") and runs it when
both its own minimum interval and a shared budget allow. Many concurrent jobs then
update less often instead of drawing 429s, and the final state is never lost.

Replicas of the bot share one bot token, hence one set of limits: each paces
itself to ``1/share()`` of the allowance, ``share`` being how many replicas are
alive now (``bot.replicas.Replicas.count``), so together they stay under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Edit = Callable[[], Awaitable[None]]
# How many replicas split an allowance (at least 1); read at every use, so a
# replica joining or leaving changes the pace at once.
Share = Callable[[], int]


def alone() -> int:
    """The share of a bot that runs as one process."""
    return 1


class TokenBucket:
    """A shared allowance of ``rate`` operations per second, bursting to ``burst``.

    This process gets ``1/share()`` of it: ``rate / share()`` a second, bursting
    to ``burst / share()`` (at least one operation).
    """

    def __init__(self, rate: float, burst: int = 1, *, share: Share = alone) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._share = share
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> float:
        """Add what the time since the last refill earned; returns the rate now."""
        share = self._share()
        rate = self.rate / share
        now = time.monotonic()
        # A grown share also cuts what was saved up: the other replicas burst too.
        capacity = max(1.0, self.burst / share)
        self._tokens = min(capacity, self._tokens + (now - self._updated) * rate)
        self._updated = now
        return rate

    async def acquire(self) -> None:
        """Wait for one token. Waiters are served in arrival order."""
        async with self._lock:
            rate = self._refill()
            # A loop: the share may grow while we sleep, and then one wait is short.
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / rate)
                rate = self._refill()
            self._tokens -= 1

    def pause(self, seconds: float) -> None:
        """Spend the allowance for ``seconds`` (after a 429's Retry-After)."""
        rate = self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds * rate


class _Slot:
    __slots__ = ("bucket", "idle", "last_run", "pending", "worker")

    def __init__(self) -> None:
        self.pending: Edit | None = None
        self.worker: asyncio.Task[None] | None = None
        self.last_run = float("-inf")
        self.bucket: TokenBucket | None = None
        self.idle = asyncio.Event()


class EditCoalescer:
    """Runs each key's newest edit at most once per ``min_interval * share()`` s.

    Args:
        min_interval: seconds between two edits of the same message.
        on_coalesced: called each time a pending edit is replaced unsent (a metric).
        share: how many replicas split the limit this interval keeps under
            (Discord's per channel); one where a ``TokenBucket`` does that job.
    """

    def __init__(
        self,
        min_interval: float,
        on_coalesced: Callable[[], None] | None = None,
        *,
        share: Share = alone,
    ) -> None:
        self.min_interval = min_interval
        self._on_coalesced = on_coalesced
        self._share = share
        self._slots: dict[str, _Slot] = {}
        # Set by aclose: wakes the workers waiting out an interval.
        self._closing = asyncio.Event()

    def submit(self, key: str, edit: Edit, bucket: TokenBucket | None = None) -> None:
        """Replace ``key``'s pending edit with ``edit``; run it when allowed."""
        slot = self._slots.setdefault(key, _Slot())
        if slot.pending is not None and self._on_coalesced is not None:
            self._on_coalesced()
        slot.pending = edit
        slot.bucket = bucket
        slot.idle.clear()
        if slot.worker is None:
            slot.worker = asyncio.create_task(self._run(key, slot))

    async def drain(self, key: str) -> None:
        """Wait until ``key``'s newest edit has run (call before posting the result)."""
        slot = self._slots.get(key)
        if slot is not None:
            await slot.idle.wait()

    async def aclose(self) -> None:
        """Run what is pending now, then stop.

        Now, not after each message's interval: a clean stop would otherwise wait
        up to ``min_interval * share()`` (seconds in production) for nothing.
        """
        self.min_interval = 0
        self._closing.set()
        workers = [s.worker for s in self._slots.values() if s.worker is not None]
        await asyncio.gather(*workers, return_exceptions=True)

    def _next_run(self, slot: _Slot) -> float:
        return slot.last_run + self.min_interval * self._share()

    async def _run(self, key: str, slot: _Slot) -> None:
        try:
            while True:
                # Waiting after the last edit too keeps the interval between bursts.
                wait = self._next_run(slot) - time.monotonic()
                while wait > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._closing.wait()
                    # Again: the share may have grown meanwhile.
                    wait = self._next_run(slot) - time.monotonic()
                if slot.pending is None:
                    break
                if slot.bucket is not None:
                    await slot.bucket.acquire()
                edit, slot.pending = slot.pending, None
                slot.last_run = time.monotonic()
                try:
                    await edit()
                except Exception:
                    # One failed edit must not stop later ones; the next carries the
                    # newer state anyway.
                    log.exception("status edit for %s failed", key)
                if slot.pending is None:
                    slot.idle.set()
        finally:
            slot.idle.set()
            self._slots.pop(key, None)
