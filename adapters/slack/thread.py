"""SlackThread: a task's status message in the channel, and that message's thread.

The status message's ``ts`` is the thread, so a task needs only its ``ChatRef`` to
find both again after a restart. ``chat.update`` is Tier 3 for the whole workspace,
so every status edit goes through one ``EditCoalescer`` and one shared budget: with
many jobs running, each one's progress simply updates less often.
"""

from __future__ import annotations

import functools
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    escape,
    failure_blocks,
    status_blocks,
    status_text,
    video_comment,
)
from adapters.slack.files import VideoUploader
from bot.errors import UserInputError
from bot.models import ChatRef, Failure, Platform, Task, VideoResult
from bot.throttle import EditCoalescer, TokenBucket

# Slack errors that mean "the bot cannot post here" rather than "Slack is down".
_NOT_POSTABLE = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
)
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

    async def post_video(self, task: Task, video: VideoResult) -> None:
        await self._directory.uploader.upload(
            Path(video.path),
            filename=f"sora-{task.id}.mp4",
            title=escape(task.request.prompt[:100]),
            channel=task.chat.channel_id,
            thread_ts=task.chat.thread_id,
            comment=video_comment(task),
        )

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
        min_interval: seconds between two edits of the same status message.
    """

    platform = Platform.SLACK

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        uploader: VideoUploader,
        budget: TokenBucket,
        min_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.uploader = uploader
        self.budget = budget
        self.edits = EditCoalescer(min_interval)
        self.closed = False

    def thread(self, chat: ChatRef) -> SlackThread:
        return SlackThread(self)

    async def aclose(self) -> None:
        """Send the newest pending edit of every status message, then stop.

        Later edits are dropped: the HTTP session is about to close, and a restarted
        bot shows each resumed task's state again anyway.
        """
        self.closed = True
        await self.edits.aclose()
