"""Submitted forms: the ``/sora`` form and the Remix form.

What can be checked without the network (an empty prompt, a file Slack already
calls a PDF) is answered in the form itself; everything else is acknowledged first,
and its outcome arrives as an ephemeral message in the channel.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import GENERATE_VIEW, REMIX_VIEW, escape
from adapters.slack.convert import (
    check_image_file,
    read_generation_view,
    read_metadata,
    read_prompt,
    slack_chat,
)
from adapters.slack.deps import SlackDeps
from adapters.slack.files import download_image
from adapters.slack.replies import reporting, via_ephemeral
from bot.errors import UserInputError
from bot.models import Requester

EMPTY_PROMPT = "Describe the video you want."


def requester_of(body: dict[str, Any]) -> Requester:
    user = body["user"]
    name = user.get("name") or user.get("username") or ""
    return Requester(user_id=str(user["id"]), display_name=str(name))


def _team(body: dict[str, Any], view: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or view.get("team_id") or "")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def generate(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        form = read_generation_view(view)
        if not form.options.prompt:
            await ack(response_action="errors", errors={"prompt": EMPTY_PROMPT})
            return
        if form.file is not None:
            try:
                check_image_file(form.file)
            except UserInputError as error:
                # The message quotes the file's name, which anyone can choose.
                errors = {"image": escape(error.user_message)}
                await ack(response_action="errors", errors=errors)
                return
        await ack()
        requester = requester_of(body)
        channel = str(form.metadata.get("channel", ""))
        async with reporting(via_ephemeral(client, channel, requester.user_id)):
            image = None
            if form.file is not None:
                image = await download_image(deps.session, form.file, deps.token)
            chat = slack_chat(_team(body, view), channel)
            request = deps.request(form.options, requester, chat, image)
            await deps.service.submit(request)

    async def remix(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        prompt = read_prompt(view)
        if not prompt:
            await ack(response_action="errors", errors={"prompt": EMPTY_PROMPT})
            return
        await ack()
        requester = requester_of(body)
        metadata = read_metadata(view)
        channel = str(metadata.get("channel", ""))
        async with reporting(via_ephemeral(client, channel, requester.user_id)):
            await deps.service.remix(str(metadata.get("task", "")), prompt, requester)

    app.view(GENERATE_VIEW)(generate)
    app.view(REMIX_VIEW)(remix)
