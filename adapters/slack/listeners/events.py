"""Events: a mention of the bot gets the ``/sora`` syntax in a thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.say.async_say import AsyncSay

from adapters.slack.blocks import escape
from adapters.slack.deps import SlackDeps
from adapters.slack.parsing import usage
from adapters.slack.surface import MENTION_EVENT


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
        # The usage writes ``<prompt>``, which Slack would otherwise read as a link.
        text = escape(usage(deps.service.offer))
        await say(text=text, thread_ts=event.get("thread_ts") or event.get("ts"))

    app.event(MENTION_EVENT)(mentioned)
