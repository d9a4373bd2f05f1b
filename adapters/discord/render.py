"""What the bot's Discord messages look like: the status embed and the thread posts.

The words come from ``bot.rendering`` (shared with Slack and the terminal); this
module only adds Discord markup (an embed, ``<@id>`` mentions, ``**bold**``).
Mentions here never ping anyone: every message is sent with
``NO_MENTIONS`` (see ``replies.py``).
"""

from __future__ import annotations

import discord

from bot.audit.entries import AuditEntry, AuditKind
from bot.audit.text import actor_label, audit_facts, audit_title
from bot.models import Failure, Task, TaskState, VideoResult
from bot.rendering import (
    failure_text,
    format_elapsed,
    oversized_video_text,
    private_note,
    progress_bar,
    settings_summary,
    state_label,
)

_COLOURS: dict[TaskState, discord.Colour] = {
    TaskState.QUEUED: discord.Colour.light_grey(),
    TaskState.RECEIVED: discord.Colour.light_grey(),
    TaskState.SUBMITTED: discord.Colour.light_grey(),
    TaskState.RUNNING: discord.Colour.blurple(),
    TaskState.SUCCEEDED: discord.Colour.green(),
    TaskState.DELIVERED: discord.Colour.green(),
    TaskState.FAILED: discord.Colour.red(),
    TaskState.CANCELLED: discord.Colour.dark_grey(),
}

# Embed descriptions hold 4096 characters; prompts are capped at 1000 by validation,
# but a stored task from an older version must still render.
_MAX_DESCRIPTION = 4000
# Embed field values hold 1024.
_MAX_FIELD = 1000


def _progress(task: Task) -> str:
    """Where the job is. While it runs, the time is a Discord timestamp that the
    client counts up by itself, so the text changes only when progress does and
    unchanged edits can be skipped."""
    label = state_label(task)
    if task.state is TaskState.QUEUED or task.taken_down_at is not None:
        return label
    if task.state.in_flight:
        started = f"started <t:{int(task.created_at.timestamp())}:R>"
        if task.state is TaskState.RUNNING or task.progress.percent > 0:
            return f"{label} {progress_bar(task.progress.percent)} · {started}"
        return f"{label} · {started}"
    took = format_elapsed((task.updated_at - task.created_at).total_seconds())
    if task.failure is None and task.state in (
        TaskState.SUCCEEDED,
        TaskState.DELIVERED,
    ):
        return f"{label} {progress_bar(100)} · took {took}"
    return f"{label} · after {took}"


def status_embed(task: Task) -> discord.Embed:
    """The compact public status: prompt, settings, requester, progress."""
    request = task.request
    colour = _COLOURS[
        TaskState.FAILED if task.failure or task.taken_down_at else task.state
    ]
    embed = discord.Embed(
        title=f"Sora video: {state_label(task)}",
        description=request.prompt[:_MAX_DESCRIPTION],
        colour=colour,
    )
    embed.add_field(name="Settings", value=settings_summary(task), inline=True)
    embed.add_field(
        name="Requested by", value=f"<@{request.requester.user_id}>", inline=True
    )
    embed.add_field(name="Progress", value=_progress(task), inline=False)
    if (note := private_note(task)) is not None:
        embed.add_field(name="Private", value=note, inline=False)
    embed.set_footer(text=f"Task {task.id}")
    return embed


def video_text(task: Task) -> str:
    """The words above an uploaded video."""
    return f"Here is your video, <@{task.request.requester.user_id}>."


def too_large_text(
    task: Task, video: VideoResult, limit: int, own_link: str | None, days: int
) -> str:
    """Why there is a link instead of a file, and the link when there is one."""
    reason = oversized_video_text(
        video.size_bytes,
        limit,
        "this server's",
        own_link=own_link,
        days=days,
        provider_link=video.source_url,
    )
    return f"<@{task.request.requester.user_id}> your video is ready. {reason}"


def _inert(text: str) -> str:
    """Outside words shown as typed: no markdown, nothing shaped like a mention."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def error_text(task: Task, failure: Failure) -> str:
    """The failure in plain words, then the provider's own, quoted and inert."""
    return (
        f"<@{task.request.requester.user_id}> **No video this time.** "
        f"{failure_text(failure, _inert)}"
    )


def message_link(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def _result_link(entry: AuditEntry) -> str | None:
    """The video message if there is one, else the status message."""
    chat = entry.result
    if chat is None:
        return None
    if chat.video_message_id is not None:
        where = chat.thread_id or chat.channel_id
        return message_link(chat.workspace_id, where, chat.video_message_id)
    if chat.status_message_id is not None:
        return message_link(chat.workspace_id, chat.channel_id, chat.status_message_id)
    return None


def audit_embed(entry: AuditEntry) -> discord.Embed:
    """One audit entry: headline, who and where, the facts, a link to the result."""
    colour = (
        discord.Colour.green()
        if entry.can_take_down
        else discord.Colour.dark_grey()
        if entry.kind is AuditKind.SETTING
        else discord.Colour.red()
    )
    embed = discord.Embed(title=audit_title(entry), colour=colour, timestamp=entry.at)
    if entry.user_id:
        embed.add_field(name=actor_label(entry), value=f"<@{entry.user_id}>")
    if entry.channel_id:
        embed.add_field(name="Channel", value=f"<#{entry.channel_id}>")
    for name, value in audit_facts(entry):
        embed.add_field(name=name, value=value[:_MAX_FIELD], inline=name != "Prompt")
    link = _result_link(entry)
    if link is not None:
        embed.add_field(name="Result", value=link, inline=False)
    return embed
