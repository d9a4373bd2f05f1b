"""The buttons on status, failure and audit messages: Retry, Remix, Cancel and
Takedown.

Each button's ``value`` is the task id, so a click works whatever happened to the
bot since the message was posted; the service looks the task up and decides.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    CANCEL_ACTION,
    REMIX_ACTION,
    RETRY_ACTION,
    TAKEDOWN_ACTION,
    remix_modal,
)
from adapters.slack.deps import SlackDeps
from adapters.slack.listeners.views import requester_of
from adapters.slack.replies import reporting, via_response_url
from bot.audit.text import TAKEDOWN_DONE


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def retry(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
    ) -> None:
        await ack()
        async with reporting(via_response_url(respond)):
            await deps.service.retry(str(action["value"]), requester_of(body))

    async def remix(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        async with reporting(via_response_url(respond)):
            task = await deps.service.get_task(str(action["value"]))
            metadata = {"task": task.id, "channel": task.chat.channel_id}
            view = remix_modal(metadata, task)
            await client.views_open(trigger_id=body["trigger_id"], view=view)

    async def cancel(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
    ) -> None:
        await ack()
        async with reporting(via_response_url(respond)):
            by = requester_of(body)
            task = await deps.service.get_task(str(action["value"]))
            # users.info only when it matters: requesters may always cancel their own.
            moderator = (
                by.user_id != task.request.requester.user_id
                and await deps.admins.is_admin(by.user_id)
            )
            await deps.service.cancel(task.id, by, moderator=moderator)

    async def takedown(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
    ) -> None:
        await ack()
        tell = via_response_url(respond)
        async with reporting(tell):
            by = requester_of(body)
            # Asked on every click: a button in a channel anyone can press.
            moderator = await deps.admins.is_admin(by.user_id)
            await deps.service.take_down(str(action["value"]), by, moderator=moderator)
            await tell(TAKEDOWN_DONE)

    app.action(RETRY_ACTION)(retry)
    app.action(REMIX_ACTION)(remix)
    app.action(CANCEL_ACTION)(cancel)
    app.action(TAKEDOWN_ACTION)(takedown)
