"""Which chat platform's adapter carries a task: one ``ChatDirectory`` per platform.

The service opens threads through it and the tracker reports through it; it lives
apart from both so neither has to import the other just to reach a chat.
"""

from __future__ import annotations

from bot.models import ChatRef, Platform
from bot.ports import ChatDirectory, ChatThread


class ChatRouter:
    """The registered ``ChatDirectory`` per platform, shared by service and tracker."""

    def __init__(self) -> None:
        self._directories: dict[Platform, ChatDirectory] = {}

    def register(self, directory: ChatDirectory) -> None:
        self._directories[directory.platform] = directory

    def thread(self, chat: ChatRef) -> ChatThread | None:
        directory = self._directories.get(chat.platform)
        return None if directory is None else directory.thread(chat)
