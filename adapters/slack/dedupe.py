"""Redelivered requests are acknowledged and otherwise ignored, by every replica.

Slack retries an event it thinks went unanswered (``X-Slack-Retry-Num`` over HTTP,
``retry_attempt`` in Socket Mode), and a retried command must not start a second
video. The key is what stays the same across deliveries of one user action: the
``event_id`` of an event, the ``trigger_id`` of a command, click or form. Behind a
load balancer the retry may reach another replica, or this one after a restart,
so the claim is made in the database (``VideoService.claim_once``), not in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.service import VideoService

log = logging.getLogger(__name__)

# Slack's last retry of an event comes about 5 minutes after the first delivery.
DEFAULT_TTL = 15 * 60


def delivery_key(body: Mapping[str, Any], team_id: str | None) -> str | None:
    """What identifies one user action across redeliveries, if anything does.

    Event ids are unique across Slack; trigger ids only promise to be unique
    within their workspace, hence the team in their key.
    """
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"slack:event:{body['event_id']}"
    trigger = body.get("trigger_id")
    return f"slack:{team_id or ''}:{trigger}" if trigger else None


Next = Callable[[], Awaitable[BoltResponse]]


def skip_redeliveries(
    service: VideoService, ttl: float = DEFAULT_TTL
) -> Callable[[dict[str, Any], AsyncBoltContext, Next], Awaitable[BoltResponse]]:
    """A global bolt middleware: runs after signature checks, before listeners.

    The claim is one small write before the ack. Should it fail, the error reaches
    bolt's error handler (500) and nothing starts; Slack's retry claims again.
    """

    async def middleware(
        body: dict[str, Any], context: AsyncBoltContext, next_: Next
    ) -> BoltResponse:
        key = delivery_key(body, context.team_id)
        if key is not None and not await service.claim_once(key, ttl):
            log.info("ignoring a redelivered Slack request (%s)", key)
            return BoltResponse(status=200, body="")
        return await next_()

    return middleware
