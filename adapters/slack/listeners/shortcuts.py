"""The message shortcut "Animate with Sora": the ``/sora`` form, image pre-filled.

A ``file_input`` cannot be given a file, so the message's image travels in the
form's private metadata and is used unless the user attaches another one.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.convert import pick_image
from adapters.slack.deps import SlackDeps
from adapters.slack.replies import reporting, via_response_url
from adapters.slack.surface import ANIMATE_SHORTCUT


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def animate(
        ack: AsyncAck,
        shortcut: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        async with reporting(via_response_url(respond)):
            message = shortcut.get("message") or {}
            image = pick_image(message.get("files") or [])
            metadata: dict[str, Any] = {"channel": shortcut["channel"]["id"]}
            if image is not None:
                metadata["image"] = image.as_payload()
            view = deps.form(
                metadata,
                prompt=str(message.get("text") or ""),
                image_name=image.name if image is not None else None,
            )
            await client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    app.shortcut(ANIMATE_SHORTCUT)(animate)
