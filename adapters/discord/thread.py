"""The core's ``ChatThread`` on Discord: one status message, its thread, the result.

Everything goes through the bot token to channel messages, never through the
interaction token: that token dies 15 minutes after the command, and a job that
outlives it would otherwise draw a 401 per edit (and 401s count toward Discord's
invalid-request ban). Status edits are coalesced per message (latest wins) and every
write shares one ``TokenBucket`` so many concurrent jobs stay under Discord's global
limit of 50 requests a second (split between the live replicas, like the edit pace).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import discord

from adapters.discord.buttons import audit_view, result_view, running_view
from adapters.discord.convert import DEFAULT_UPLOAD_LIMIT, thread_name
from adapters.discord.render import (
    audit_embed,
    error_text,
    status_embed,
    too_large_text,
    video_text,
)
from adapters.discord.replies import NO_MENTIONS
from bot.audit.entries import AuditEntry
from bot.models import ChatRef, Failure, Platform, Task, VideoResult
from bot.throttle import EditCoalescer, Share, TokenBucket, alone
from bot.video_links import VideoLinks

log = logging.getLogger(__name__)

# Status messages whose last rendering is remembered (a few hundred bytes each).
_SHOWN_MEMORY = 10_000

# Threads stay listed for a day after the last post; posting later un-archives them.
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440


class Pacing:
    """The shared limits for every thread: edit coalescing and the REST budget.

    Both are the bot token's, so replicas split them: ``share`` is how many run.

    It also remembers what each status message last showed, so an update that
    changes nothing on screen (queued -> submitted, succeeded -> delivered) costs
    no request; a bounded memory, since forgetting only costs one extra edit.
    """

    def __init__(
        self,
        edit_interval: float,
        rest_rate: float,
        on_coalesced: Callable[[], None] | None = None,
        *,
        share: Share = alone,
    ) -> None:
        self.edits = EditCoalescer(edit_interval, on_coalesced, share=share)
        # No burst: Discord counts the global limit in fixed one-second windows, and
        # requests that discord.py held back for a per-channel limit add to it.
        self.bucket = TokenBucket(rest_rate, share=share)
        self._shown: OrderedDict[str, str] = OrderedDict()

    def unchanged(self, message_id: str, rendered: str) -> bool:
        return self._shown.get(message_id) == rendered

    def shown(self, message_id: str, rendered: str) -> None:
        self._shown[message_id] = rendered
        self._shown.move_to_end(message_id)
        if len(self._shown) > _SHOWN_MEMORY:
            self._shown.popitem(last=False)


def _fingerprint(embed: discord.Embed, running: bool) -> str:
    """What a status message shows: its embed, and whether Cancel is on it."""
    return json.dumps([embed.to_dict(), running], sort_keys=True)


class DiscordThread:
    """Renders one task; holds only ids, so it works after a restart."""

    def __init__(
        self,
        client: discord.Client,
        chat: ChatRef,
        pacing: Pacing,
        links: VideoLinks,
    ) -> None:
        self._client = client
        self._chat = chat
        self._pacing = pacing
        self._links = links

    def _channel(self, channel_id: str) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(
            int(channel_id), guild_id=int(self._chat.workspace_id)
        )

    def _target(self, chat: ChatRef) -> discord.PartialMessageable:
        """Where results go: the task's thread, or its channel if no thread opened."""
        return self._channel(chat.thread_id or chat.channel_id)

    async def post_status(self, task: Task) -> ChatRef:
        chat = task.chat
        await self._pacing.bucket.acquire()
        embed = status_embed(task)
        message = await self._channel(chat.channel_id).send(
            embed=embed, view=running_view(task.id), allowed_mentions=NO_MENTIONS
        )
        self._pacing.shown(str(message.id), _fingerprint(embed, running=True))
        thread_id = chat.thread_id
        if thread_id is None:
            thread_id = await self._open_thread(message, task)
        return chat.model_copy(
            update={"status_message_id": str(message.id), "thread_id": thread_id}
        )

    async def _open_thread(self, message: discord.Message, task: Task) -> str | None:
        await self._pacing.bucket.acquire()
        try:
            thread = await message.create_thread(
                name=thread_name(task.request.prompt),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
        except (discord.HTTPException, ValueError):
            # No Create Public Threads permission, or a channel type without
            # threads: the job still runs and its result goes to the channel.
            log.warning("no thread for task %s; results go to the channel", task.id)
            return None
        return str(thread.id)

    async def edit_status(self, task: Task) -> None:
        message_id = task.chat.status_message_id
        if message_id is None:
            return
        message = self._channel(task.chat.channel_id).get_partial_message(
            int(message_id)
        )
        embed = status_embed(task)
        running = task.state.cancellable
        rendered = _fingerprint(embed, running)
        if self._pacing.unchanged(message_id, rendered):
            return

        async def edit() -> None:
            if self._client.is_closed():
                # Shutting down: the task is saved, and the next start shows it.
                return
            # No view once the job is over: that removes the Cancel button.
            view = running_view(task.id) if running else None
            await message.edit(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
            self._pacing.shown(message_id, rendered)

        self._pacing.edits.submit(message_id, edit, self._pacing.bucket)

    async def post_video(self, task: Task, video: VideoResult) -> ChatRef:
        limit = task.chat.upload_limit or DEFAULT_UPLOAD_LIMIT
        target = self._target(task.chat)
        view = result_view(task, takedown=True)
        if video.size_bytes <= limit:
            await self._pacing.bucket.acquire()
            message = await target.send(
                video_text(task),
                file=discord.File(video.path, filename=f"sora-{task.id}.mp4"),
                view=view,
                allowed_mentions=NO_MENTIONS,
            )
        else:
            # The bot's copy outlives the provider's link (about an hour).
            own_link = await self._links.link_for(Path(video.path))
            await self._pacing.bucket.acquire()
            message = await target.send(
                too_large_text(task, video, limit, own_link, self._links.days),
                view=view,
                allowed_mentions=NO_MENTIONS,
            )
        return task.chat.model_copy(update={"video_message_id": str(message.id)})

    async def remove_video(self, task: Task) -> None:
        message_id = task.chat.video_message_id
        if message_id is None:
            return
        message = self._target(task.chat).get_partial_message(int(message_id))
        await self._pacing.bucket.acquire()
        try:
            await message.delete()
        except discord.NotFound:
            log.info("task %s: the video message was already gone", task.id)

    async def post_error(self, task: Task, failure: Failure) -> None:
        await self._pacing.bucket.acquire()
        await self._target(task.chat).send(
            error_text(task, failure),
            view=result_view(task, remix=False),
            allowed_mentions=NO_MENTIONS,
        )


class DiscordDirectory:
    """Hands the core a ``DiscordThread`` for any stored Discord ``ChatRef``."""

    def __init__(
        self, client: discord.Client, pacing: Pacing, links: VideoLinks
    ) -> None:
        self._client = client
        self._pacing = pacing
        self._links = links

    @property
    def platform(self) -> Platform:
        return Platform.DISCORD

    def thread(self, chat: ChatRef) -> DiscordThread:
        return DiscordThread(self._client, chat, self._pacing, self._links)

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        target = self._client.get_partial_messageable(
            int(channel.channel_id), guild_id=int(channel.workspace_id)
        )
        view = (
            audit_view(entry.task_id)
            if entry.can_take_down and entry.task_id is not None
            else discord.utils.MISSING
        )
        await self._pacing.bucket.acquire()
        await target.send(
            embed=audit_embed(entry), view=view, allowed_mentions=NO_MENTIONS
        )
