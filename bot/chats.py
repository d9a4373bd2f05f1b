"""Which chat platform's adapter carries a task: one ``ChatDirectory`` per platform.

The service opens threads through it and the tracker reports through it; it lives
apart from both so neither has to import the other just to reach a chat.
"""

from __future__ import annotations

import logging

from bot.models import ChatRef, Platform, Task
from bot.ports import ChatDirectory, ChatThread

log = logging.getLogger(__name__)


class ChatRouter:
    """The registered ``ChatDirectory`` per platform, shared by service and tracker."""

    def __init__(self) -> None:
        self._directories: dict[Platform, ChatDirectory] = {}

    def register(self, directory: ChatDirectory) -> None:
        self._directories[directory.platform] = directory

    @property
    def platforms(self) -> frozenset[Platform]:
        """The platforms whose tasks this process can carry (a replica leases
        only those)."""
        return frozenset(self._directories)

    def directory(self, platform: Platform) -> ChatDirectory | None:
        return self._directories.get(platform)

    def thread(self, chat: ChatRef) -> ChatThread | None:
        directory = self._directories.get(chat.platform)
        return None if directory is None else directory.thread(chat)

    async def show(self, task: Task) -> None:
        """Edit ``task``'s status message; a chat failure is logged, never raised
        (the task is saved, and the next change shows it again)."""
        thread = self.thread(task.chat)
        if thread is None:
            return
        try:
            await thread.edit_status(task)
        except Exception:
            log.exception("task %s: updating the status message failed", task.id)
