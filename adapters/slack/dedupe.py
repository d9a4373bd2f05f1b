"""Redelivered requests are acknowledged and otherwise ignored.

Slack retries an event it thinks went unanswered (``X-Slack-Retry-Num`` over HTTP,
``retry_attempt`` in Socket Mode), and a retried command must not start a second
video. The key is what stays the same across deliveries of one user action: the
``event_id`` of an event, the ``trigger_id`` of a command, click or form.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# Slack's last retry of an event comes about 5 minutes after the first delivery.
DEFAULT_TTL = 15 * 60


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """What identifies one user action across redeliveries, if anything does."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    trigger = body.get("trigger_id")
    return f"trigger:{trigger}" if trigger else None


class SeenDeliveries:
    """A bounded, expiring set of delivery keys."""

    def __init__(self, capacity: int = 50_000, ttl: float = DEFAULT_TTL) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """Record ``key``; True unless it was seen within ``ttl`` seconds."""
        now = time.monotonic()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at > now - self.ttl and len(self._seen) < self.capacity:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


Next = Callable[[], Awaitable[BoltResponse]]


def skip_redeliveries(
    seen: SeenDeliveries,
) -> Callable[[dict[str, Any], Next], Awaitable[BoltResponse]]:
    """A global bolt middleware: runs after signature checks, before listeners."""

    async def middleware(body: dict[str, Any], next_: Next) -> BoltResponse:
        key = delivery_key(body)
        if key is not None and not seen.first_time(key):
            log.info("ignoring a redelivered Slack request (%s)", key)
            return BoltResponse(status=200, body="")
        return await next_()

    return middleware
