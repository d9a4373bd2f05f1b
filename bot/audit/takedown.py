"""A moderator's takedown: the video message goes, the status says so, the bot's
copies are deleted, and the record says who did it and when.

The permission is decided by the adapter from the click itself (Discord's Manage
Server, Slack's admins) and checked here, so a stale button or a member who
guessed a task id gets the same refusal.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.audit.log import AuditLog
from bot.chats import ChatRouter
from bot.errors import PermissionDenied, UserInputError
from bot.models import Requester, Task, TaskState, utcnow
from bot.ports import TaskStore
from bot.video_links import VideoLinks

log = logging.getLogger(__name__)

MODERATORS_ONLY = "Only moderators can take a video down."
ALREADY_REMOVED = "This video was already removed by a moderator."
NOTHING_TO_REMOVE = "There is no posted video to take down for this request."


class Takedowns:
    """Removes delivered videos for moderators.

    Args:
        store: marks the task taken down.
        chats: deletes the video message and edits the status message.
        links: the bot's linked copies of videos too large to upload.
        audit: records the takedown.
        media_dir: where the downloaded videos are (``videos/<task id>.mp4``).
    """

    def __init__(
        self,
        store: TaskStore,
        chats: ChatRouter,
        links: VideoLinks,
        audit: AuditLog,
        media_dir: Path,
    ) -> None:
        self._store = store
        self._chats = chats
        self._links = links
        self._audit = audit
        self._videos = media_dir / "videos"

    async def take_down(self, task_id: str, by: Requester, *, moderator: bool) -> Task:
        """Raises ``PermissionDenied`` (not a moderator) or ``UserInputError``."""
        if not moderator:
            raise PermissionDenied(MODERATORS_ONLY)
        task = await self._store.get(task_id)
        if task.taken_down_at is not None:
            raise UserInputError(ALREADY_REMOVED)
        if task.state is not TaskState.DELIVERED or task.failure is not None:
            raise UserInputError(NOTHING_TO_REMOVE)
        thread = self._chats.thread(task.chat)
        if thread is not None:
            await thread.remove_video(task)
        task.taken_down_by = by.user_id
        task.taken_down_at = utcnow()
        task.updated_at = task.taken_down_at
        await self._store.save(task)
        log.info("task %s taken down by %s", task.id, by.user_id)
        await asyncio.to_thread(self._delete_copies, task)
        await self._chats.show(task)
        await self._audit.taken_down(task, by)
        return task

    def _delete_copies(self, task: Task) -> None:
        """The download and any linked copy of it (``MEDIA_DIR/links``)."""
        paths = {self._videos / f"{task.id}.mp4"}
        if task.result is not None:
            paths.add(Path(task.result.path))
        for path in paths:
            self._links.forget(path)
            path.unlink(missing_ok=True)
