"""The use cases: submit, retry, remix, cancel, and moderators' settings.

Adapters call only this (plus ``ChatDirectory`` registration). It validates, applies
the scope's settings, persists, opens the chat thread and hands the task to the
tracker; it never talks to a chat SDK or decides how anything looks.
"""

from __future__ import annotations

from bot.models import ChatRef, GenerationRequest, Platform, Requester, Task
from bot.ports import ChatDirectory, Scope

PRIVATE_MODE = "private_mode"
USER_LIMIT = "user_limit"


class VideoService:
    """Contract stub; the implementation lands with the core pipeline."""

    def register_chat(self, directory: ChatDirectory) -> None:
        """Route tasks of ``directory.platform`` to it (call before tracking starts)."""
        raise NotImplementedError

    async def submit(self, request: GenerationRequest) -> Task:
        """Validate, apply private mode and the per-user limit, persist, post status.

        Raises ``UserInputError`` (nothing stored, nothing sent to the provider).
        Returns the task with ``task.chat`` filled by the adapter's ``post_status``.
        The provider submission happens in the background (tracker).
        """
        raise NotImplementedError

    async def retry(self, task_id: str, requester: Requester) -> Task:
        """A new task with the same settings, in the original channel."""
        raise NotImplementedError

    async def remix(self, task_id: str, prompt: str, requester: Requester) -> Task:
        """A new task with a new prompt and the original's settings and image."""
        raise NotImplementedError

    async def cancel(self, task_id: str, by: Requester, *, moderator: bool) -> Task:
        """Stop tracking a running task. Only its requester or a moderator may.

        Raises ``PermissionDenied`` or ``UserInputError`` (already finished).
        """
        raise NotImplementedError

    async def get_task(self, task_id: str) -> Task:
        raise NotImplementedError

    async def running_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        raise NotImplementedError

    async def private_mode(self, chat: ChatRef) -> bool:
        """Channel setting if set, else the workspace's, else off."""
        raise NotImplementedError

    async def set_private_mode(self, scope: Scope, enabled: bool | None) -> None:
        """``None`` clears a channel override (falls back to the workspace)."""
        raise NotImplementedError

    async def user_limit(self, platform: Platform, workspace_id: str) -> int:
        raise NotImplementedError

    async def set_user_limit(
        self, platform: Platform, workspace_id: str, limit: int
    ) -> None:
        raise NotImplementedError
