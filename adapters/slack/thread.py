"""SlackThread: a task's status message in the channel, and that message's thread.

The status message's ``ts`` is the thread, so a task needs only its ``ChatRef`` to
find both again after a restart. ``chat.update`` is Tier 3 for the whole workspace,
so every status edit goes through one ``EditCoalescer`` and one shared budget: with
many jobs running, each one's progress simply updates less often.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    audit_blocks,
    escape,
    failure_blocks,
    status_blocks,
    status_text,
    video_comment,
)
from adapters.slack.files import VideoUploader
from bot.audit.entries import AuditEntry
from bot.errors import UserInputError
from bot.models import ChatRef, Failure, Platform, Task, VideoResult
from bot.rendering import oversized_video_text
from bot.throttle import EditCoalescer, TokenBucket
from bot.video_links import VideoLinks

# Slack errors that mean "the bot cannot post here" rather than "Slack is down".
_NOT_POSTABLE = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
)
# A takedown of something already deleted is done.
_GONE = frozenset({"file_not_found", "file_deleted", "message_not_found"})
# Slack documents no file size limit; 1 GB is the figure commonly quoted
# (reference/platform-limits.md, "Max file size").
UPLOAD_LIMIT = 1024 * 1024 * 1024
CANNOT_POST = (
    "I can't post in this channel yet. Invite me first (type `/invite` and pick "
    "me), or use me in a channel I'm already in."
)


class SlackThread:
    """The ``ChatThread`` of one task; holds nothing a restart would lose."""

    def __init__(self, directory: SlackDirectory) -> None:
        self._directory = directory

    @property
    def _client(self) -> AsyncWebClient:
        return self._directory.client

    async def post_status(self, task: Task) -> ChatRef:
        try:
            response = await self._client.chat_postMessage(
                channel=task.chat.channel_id,
                text=status_text(task),
                blocks=status_blocks(task),
                unfurl_links=False,
            )
        except SlackApiError as error:
            if error.response.get("error") in _NOT_POSTABLE:
                raise UserInputError(CANNOT_POST) from None
            raise
        ts = str(response["ts"])
        return task.chat.model_copy(update={"thread_id": ts, "status_message_id": ts})

    async def edit_status(self, task: Task) -> None:
        ts = task.chat.status_message_id
        if ts is None or self._directory.closed:
            return
        key = f"{task.chat.channel_id}/{ts}"
        edit = functools.partial(self._update, task.chat.channel_id, ts, task)
        self._directory.edits.submit(key, edit, self._directory.budget)

    async def _update(self, channel: str, ts: str, task: Task) -> None:
        # Rendered when the budget lets the edit run, so the elapsed time is fresh.
        await self._client.chat_update(
            channel=channel, ts=ts, text=status_text(task), blocks=status_blocks(task)
        )

    async def post_video(self, task: Task, video: VideoResult) -> ChatRef:
        limit = task.chat.upload_limit or self._directory.upload_limit
        if video.size_bytes > limit:
            ts = await self._post_link(task, video, limit)
            return task.chat.model_copy(update={"video_message_id": ts})
        file_id = await self._directory.uploader.upload(
            Path(video.path),
            filename=f"sora-{task.id}.mp4",
            title=escape(task.request.prompt[:100]),
            channel=task.chat.channel_id,
            thread_ts=task.chat.thread_id,
            comment=video_comment(task),
        )
        return task.chat.model_copy(update={"video_file_id": file_id})

    async def remove_video(self, task: Task) -> None:
        """``files.delete`` removes an uploaded video from every message showing
        it; a linked one is a message of its own (``chat.delete``)."""
        chat = task.chat
        try:
            if chat.video_file_id is not None:
                await self._client.files_delete(file=chat.video_file_id)
            if chat.video_message_id is not None:
                await self._client.chat_delete(
                    channel=chat.channel_id, ts=chat.video_message_id
                )
        except SlackApiError as error:
            if error.response.get("error") not in _GONE:
                raise

    async def _post_link(self, task: Task, video: VideoResult, limit: int) -> str:
        """A link where Slack would not take the file: the bot's copy, kept
        ``VIDEO_LINK_DAYS`` days, else the provider's (short-lived) link."""
        links = self._directory.links
        reason = oversized_video_text(
            video.size_bytes,
            limit,
            "Slack's",
            own_link=await links.link_for(Path(video.path)),
            days=links.days,
            provider_link=video.source_url,
        )
        user = task.request.requester.user_id
        response = await self._client.chat_postMessage(
            channel=task.chat.channel_id,
            thread_ts=task.chat.thread_id,
            text=f"<@{user}> your video is ready. {escape(reason)}",
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    async def post_error(self, task: Task, failure: Failure) -> None:
        text, blocks = failure_blocks(task, failure)
        await self._client.chat_postMessage(
            channel=task.chat.channel_id,
            thread_ts=task.chat.thread_id,
            text=text,
            blocks=blocks,
        )


class SlackDirectory:
    """The ``ChatDirectory`` for Slack: threads share the client, edits and budget.

    Args:
        client: the bot's Web API client.
        uploader: uploads finished videos.
        budget: the workspace's shared ``chat.update`` allowance.
        links: the bot's own links for videos larger than ``upload_limit``.
        upload_limit: the largest video uploaded as a file, in bytes.
        min_interval: seconds between two edits of the same status message.
        on_coalesced: counts status edits replaced before they were sent.
    """

    platform = Platform.SLACK

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        uploader: VideoUploader,
        budget: TokenBucket,
        links: VideoLinks,
        upload_limit: int = UPLOAD_LIMIT,
        min_interval: float = 1.0,
        on_coalesced: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.uploader = uploader
        self.budget = budget
        self.links = links
        self.upload_limit = upload_limit
        self.edits = EditCoalescer(min_interval, on_coalesced)
        self.closed = False

    def thread(self, chat: ChatRef) -> SlackThread:
        return SlackThread(self)

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        text, blocks = audit_blocks(entry)
        await self.client.chat_postMessage(
            channel=channel.channel_id, text=text, blocks=blocks, unfurl_links=False
        )

    async def aclose(self) -> None:
        """Send the newest pending edit of every status message, then stop.

        Later edits are dropped: the HTTP session is about to close, and a restarted
        bot shows each resumed task's state again anyway.
        """
        self.closed = True
        await self.edits.aclose()
