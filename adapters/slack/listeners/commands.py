"""``/sora`` (and ``/sora help|info|mine``) and ``/sora-admin``: acknowledged at
once, then handed to the core.

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

from adapters.slack.blocks import escape, permalink
from adapters.slack.convert import slack_chat
from adapters.slack.deps import SlackDeps
from adapters.slack.parsing import (
    AuditCommand,
    ChannelsCommand,
    CommandSyntaxError,
    GovernanceCommand,
    LimitCommand,
    PrivateCommand,
    QuotaCommand,
    ShowSettings,
    TimezoneCommand,
    WordsCommand,
    parse_admin,
    parse_verb,
    usage,
)
from adapters.slack.replies import Tell, reporting, via_response_url
from adapters.slack.surface import ADMIN_COMMAND, SORA_COMMAND
from bot.audit.text import audit_channel_text
from bot.errors import PermissionDenied
from bot.info import help_lines, info_lines, mine_lines
from bot.models import Platform, Requester, Task
from bot.ports import Scope
from bot.rendering import PRIVATE_MODE_EXPLAINED

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
        verb = parse_verb(command.get("text", ""))
        if verb is not None:
            await ack()
            async with reporting(via_response_url(respond)):
                await _answer(deps, verb, command, via_response_url(respond))
            return
        options = await _ack_parsed(ack, deps.parse, command)
        if options is None:
            return
        tell = via_response_url(respond)
        async with reporting(tell):
            chat = slack_chat(command["team_id"], command["channel_id"])
            if not options.prompt:
                # Options typed without a prompt pre-set the form.
                view = deps.form({"channel": chat.channel_id}, options=options)
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
            by = requester_of(command)
            user = by.user_id
            changes = not isinstance(action, ShowSettings)
            if changes and not await deps.admins.is_admin(user):
                raise PermissionDenied(NOT_ADMIN)
            workspace = Scope(platform=Platform.SLACK, workspace_id=team)
            if isinstance(action, GovernanceCommand):
                await tell(await _governance(deps, action, workspace, user))
            elif isinstance(action, PrivateCommand):
                scope = workspace.model_copy(update={"channel_id": action.channel_id})
                # "default" on the workspace itself means the built-in: off.
                enabled = action.enabled
                if enabled is None and action.channel_id is None:
                    enabled = False
                await deps.service.set_private_mode(scope, enabled, by=by)
                where = (
                    f"<#{action.channel_id}>" if action.channel_id else "this workspace"
                )
                if enabled is None:
                    await tell(f"Private mode in {where} now follows the workspace.")
                else:
                    state = "on" if enabled else "off"
                    note = f" {PRIVATE_MODE_EXPLAINED}" if enabled else ""
                    await tell(f"Private mode in {where} is now {state}.{note}")
            elif isinstance(action, LimitCommand):
                await deps.service.set_user_limit(
                    Platform.SLACK, team, action.limit, by=by
                )
                await tell(
                    f"Each person may now have {action.limit} video(s) in progress."
                )
            elif isinstance(action, AuditCommand):
                await deps.service.set_audit_channel(
                    workspace, action.channel_id, by=by
                )
                channel_link = (
                    None if action.channel_id is None else f"<#{action.channel_id}>"
                )
                await tell(audit_channel_text(channel_link))
            else:
                await _show_settings(deps, team, channel, tell)

    app.command(SORA_COMMAND)(sora)
    app.command(ADMIN_COMMAND)(sora_admin)


# The longest word list shown in one answer (a message holds 40,000 characters).
_LIST_CHARS = 3800


async def _governance(
    deps: SlackDeps, action: GovernanceCommand, scope: Scope, user: str
) -> str:
    """Run a governance command; its sentence as mrkdwn."""
    governance = deps.service.governance
    if isinstance(action, QuotaCommand):
        said = await governance.set_limit(scope, action.limit, action.value, user)
    elif isinstance(action, WordsCommand):
        if action.action == "add":
            said = await governance.add_word(scope, action.entry, user)
        elif action.action == "remove":
            said = await governance.remove_word(scope, action.entry, user)
        else:
            said = await governance.list_words(scope, _LIST_CHARS)
    elif isinstance(action, TimezoneCommand):
        said = await governance.set_timezone(scope, action.zone, user)
    elif isinstance(action, ChannelsCommand):
        # Sentences naming channels, people and groups are built from their ids
        # alone, so they go out as links.
        if not action.channel_ids:
            return await governance.clear_channels(scope, user)
        for channel_id in action.channel_ids:
            said = await governance.allow_channel(scope, channel_id, user)
        return said
    else:
        if not action.member_ids:
            return await governance.clear_members(scope, user)
        return await governance.allow_members(scope, action.member_ids, user)
    # Entries are the moderators' own text.
    return escape(said)


async def _show_settings(deps: SlackDeps, team: str, channel: str, tell: Tell) -> None:
    private = await deps.service.private_mode(slack_chat(team, channel))
    limit = await deps.service.user_limit(Platform.SLACK, team)
    workspace = Scope(platform=Platform.SLACK, workspace_id=team)
    audit = await deps.service.audit_channel(Platform.SLACK, team)
    lines = [
        await deps.service.governance.describe(workspace),
        f"Private mode in this channel: {'on' if private else 'off'}.",
        f"Videos in progress per person: at most {limit}.",
        f"Audit channel: {'none' if audit is None else f'<#{audit}>'}.",
    ]
    if private:
        lines.append(deps.service.private_mode_note())
    await tell("\n".join(lines))


def _where(task: Task) -> str:
    """A link to the task's status message (its thread), or its channel."""
    ts = task.chat.status_message_id
    if ts is None:
        return f"<#{task.chat.channel_id}>"
    return f"<{permalink(task.chat.channel_id, ts)}|#{task.chat.channel_id}>"


async def _answer(
    deps: SlackDeps, verb: str, command: dict[str, Any], tell: Tell
) -> None:
    """``/sora help``, ``/sora info`` and ``/sora mine``: private answers."""
    chat = slack_chat(command["team_id"], command["channel_id"])
    requester = requester_of(command)
    if verb == "help":
        limits = await deps.service.limits(Platform.SLACK, chat.workspace_id)
        lines = help_lines(usage(deps.service.offer), deps.service.profiles, limits)
        await tell("\n".join(escape(line) for line in lines))
    elif verb == "info":
        moderator = await deps.admins.is_admin(requester.user_id)
        info = await deps.service.info(chat, requester, moderator=moderator)
        await tell("\n".join(info_lines(info, where=_where, escape=escape)))
    else:
        tasks = await deps.service.mine(chat, requester)
        await tell("\n".join(mine_lines(tasks, where=_where, escape=escape)))
