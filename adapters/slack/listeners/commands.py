"""``/sora`` and ``/sora-admin``: acknowledged at once, then handed to the core.

Slack gives a command 3 seconds. Parsing is instant, so a syntax error is the ack's
own (ephemeral) text; everything slow (the form, the service, ``users.info``) runs
after the ack, and its outcome reaches the user through ``response_url``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import escape
from adapters.slack.convert import slack_chat
from adapters.slack.deps import SlackDeps
from adapters.slack.parsing import (
    CommandSyntaxError,
    LimitCommand,
    PrivateCommand,
    parse_admin,
    parse_command,
)
from adapters.slack.replies import Tell, reporting, via_response_url
from adapters.slack.surface import ADMIN_COMMAND, SORA_COMMAND
from bot.errors import PermissionDenied
from bot.models import Platform, Requester
from bot.ports import Scope
from bot.rendering import PRIVATE_MODE_NOTE

T = TypeVar("T")

NOT_ADMIN = (
    "Sorry, only workspace admins and owners (or people the operator listed) can "
    "change Sora's settings. Ask one of them."
)


def requester_of(command: dict[str, Any]) -> Requester:
    return Requester(
        user_id=str(command["user_id"]), display_name=command.get("user_name", "")
    )


async def _ack_parsed(
    ack: AsyncAck, parse: Callable[[str], T], command: dict[str, Any]
) -> T | None:
    """Parse the command's text and ack; a syntax error is the ack's text (None)."""
    try:
        parsed = parse(command.get("text", ""))
    except CommandSyntaxError as error:
        # The message quotes what was typed (``/sora-admin private on <!here>``).
        await ack(text=escape(error.user_message))
        return None
    await ack()
    return parsed


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def sora(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        options = await _ack_parsed(ack, parse_command, command)
        if options is None:
            return
        tell = via_response_url(respond)
        async with reporting(tell):
            chat = slack_chat(command["team_id"], command["channel_id"])
            if not options.prompt:
                view = deps.form({"channel": chat.channel_id})
                await client.views_open(trigger_id=command["trigger_id"], view=view)
                return
            request = deps.request(options, requester_of(command), chat)
            await deps.service.submit(request)

    async def sora_admin(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        action = await _ack_parsed(ack, parse_admin, command)
        if action is None:
            return
        tell = via_response_url(respond)
        async with reporting(tell):
            team, channel = str(command["team_id"]), str(command["channel_id"])
            changes = isinstance(action, PrivateCommand | LimitCommand)
            if changes and not await deps.admins.is_admin(str(command["user_id"])):
                raise PermissionDenied(NOT_ADMIN)
            if isinstance(action, PrivateCommand):
                scope = Scope(
                    platform=Platform.SLACK,
                    workspace_id=team,
                    channel_id=action.channel_id,
                )
                await deps.service.set_private_mode(scope, action.enabled)
                where = (
                    f"<#{action.channel_id}>" if action.channel_id else "this workspace"
                )
                state = "on" if action.enabled else "off"
                note = f" {PRIVATE_MODE_NOTE}" if action.enabled else ""
                await tell(f"Private mode in {where} is now {state}.{note}")
            elif isinstance(action, LimitCommand):
                await deps.service.set_user_limit(Platform.SLACK, team, action.limit)
                await tell(
                    f"Each person may now have {action.limit} video(s) in progress."
                )
            else:
                await _show_settings(deps, team, channel, tell)

    app.command(SORA_COMMAND)(sora)
    app.command(ADMIN_COMMAND)(sora_admin)


async def _show_settings(deps: SlackDeps, team: str, channel: str, tell: Tell) -> None:
    private = await deps.service.private_mode(slack_chat(team, channel))
    limit = await deps.service.user_limit(Platform.SLACK, team)
    lines = [
        f"Private mode in this channel: {'on' if private else 'off'}.",
        f"Videos in progress per person: at most {limit}.",
    ]
    if private:
        lines.append(PRIVATE_MODE_NOTE)
    await tell("\n".join(lines))
