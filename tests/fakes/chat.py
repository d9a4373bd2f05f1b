"""A recording chat platform: implements ChatDirectory/ChatThread and remembers calls.

Tests assert on what the user would have seen (status posts, edits, the video, the
error) without any chat SDK. Set ``fail_edits``/``fail_posts`` to make the adapter
misbehave and check the core survives it; ``hang_after_post`` makes an upload
land but its answer never come back (the bot dies or stalls mid-post).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bot.audit.entries import AuditEntry
from bot.models import ChatRef, Failure, Platform, Task, VideoResult


@dataclass
class ChatEvent:
    kind: str  # "status", "edit", "video", "error", "removed"
    task: Task
    video: VideoResult | None = None
    failure: Failure | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class RecordingChat:
    """The directory and, for simplicity, every thread's recorder."""

    platform: Platform = Platform.CLI
    events: list[ChatEvent] = field(default_factory=list)
    fail_status: bool = False
    fail_edits: bool = False
    fail_posts: int = 0  # how many post_video/post_error calls raise first
    hang_after_post: bool = False  # post_video records the video, never returns
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    audits: list[tuple[ChatRef, AuditEntry]] = field(default_factory=list)

    def thread(self, chat: ChatRef) -> RecordingThread:
        return RecordingThread(self)

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        self.audits.append((channel, entry))
        self.changed.set()

    def record(self, event: ChatEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def of(self, task_id: str, kind: str | None = None) -> list[ChatEvent]:
        return [
            e
            for e in self.events
            if e.task.id == task_id and (kind is None or e.kind == kind)
        ]

    def outcomes(self, task_id: str) -> list[ChatEvent]:
        """The video or error posts: a task must have exactly one."""
        return [e for e in self.of(task_id) if e.kind in ("video", "error")]

    async def wait_for(self, predicate, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class RecordingThread:
    def __init__(self, chat: RecordingChat) -> None:
        self._chat = chat

    async def post_status(self, task: Task) -> ChatRef:
        if self._chat.fail_status:
            raise RuntimeError("missing permission to post here")
        self._chat.record(ChatEvent("status", task))
        return task.chat.model_copy(
            update={
                "status_message_id": f"msg-{task.id}",
                "thread_id": f"thr-{task.id}",
            }
        )

    async def edit_status(self, task: Task) -> None:
        if self._chat.fail_edits:
            raise RuntimeError("chat platform is down")
        self._chat.record(ChatEvent("edit", task))

    async def post_video(self, task: Task, video: VideoResult) -> None:
        self._fail_maybe()
        self._chat.record(ChatEvent("video", task, video=video))
        if self._chat.hang_after_post:
            await asyncio.Event().wait()

    async def remove_video(self, task: Task) -> None:
        self._chat.record(ChatEvent("removed", task))

    async def post_error(self, task: Task, failure: Failure) -> None:
        self._fail_maybe()
        self._chat.record(ChatEvent("error", task, failure=failure))

    def _fail_maybe(self) -> None:
        if self._chat.fail_posts > 0:
            self._chat.fail_posts -= 1
            raise RuntimeError("chat platform refused the upload")
