"""When a tracked task falls due next: the polling period, jitter and back-off.

Shared by the tracker (a task started or resumed) and its steps (every later
wait), so both keep to one period and one deadline rule.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bot.tracking.policy import POLL_SHARE, backoff
from bot.tracking.scheduler import Slot


class Timing:
    """Sets ``slot.due``; never later than an in-flight task's deadline."""

    def __init__(self, poll_interval: float, clock: Callable[[], float]) -> None:
        self.poll_interval = poll_interval
        self._clock = clock

    def due_in(self, slot: Slot, delay: float) -> None:
        """Make ``slot`` due ``delay`` seconds from now."""
        slot.due = self._clock() + delay
        if slot.state.in_flight:
            # Wake up for the deadline even if the provider keeps us waiting.
            slot.due = min(slot.due, slot.deadline)

    def next_poll(self, slot: Slot, *, earliest: float | None = None) -> None:
        """Make ``slot`` due one polling period from now.

        With ``earliest`` (a share of the period) the wait is random instead, for a
        task's first poll: tasks started or resumed together then query at
        different moments, and the fixed period afterwards keeps them apart.
        The period is the same when a callback is expected: callbacks report the
        end, not progress, so they may only shorten the wait for the end.
        """
        period = self.poll_interval * POLL_SHARE
        if earliest is not None:
            period *= random.uniform(earliest, 1.0)
        self.due_in(slot, period)

    def backoff(self, errors: int, retry_after: float | None = None) -> float:
        """``policy.backoff`` at this tracker's polling interval."""
        return backoff(errors, self.poll_interval, retry_after)
