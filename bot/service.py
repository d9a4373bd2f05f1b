"""The use cases: submit, retry, remix, cancel, and moderators' settings.

Adapters call only this (plus ``ChatDirectory`` registration). It validates, applies
the scope's settings, persists, opens the chat thread and hands the task to the
tracker; it never talks to a chat SDK or decides how anything looks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import timedelta

from bot.capabilities import CapabilityProfile, Offer, default_model, first_refusal
from bot.chats import ChatRouter
from bot.config import Settings
from bot.errors import PermissionDenied, UserInputError
from bot.governance import Governor
from bot.imaging import check_image_reachable, ensure_decodable
from bot.logs import task_fields
from bot.media import MediaHost
from bot.metrics import Metrics
from bot.models import (
    ChatRef,
    Failure,
    FailureKind,
    GenerationRequest,
    Platform,
    Requester,
    Task,
    TaskState,
    utcnow,
)
from bot.ports import ChatDirectory, Scope, TaskStore
from bot.providers.pool import ProviderPool
from bot.rendering import (
    PRIVATE_MODE_NOTE,
    PRIVATE_MODE_REFUSED,
    PRIVATE_UNAVAILABLE,
    remix_source,
)
from bot.tracker import Tracker
from bot.validation import validate_request

log = logging.getLogger(__name__)

PRIVATE_MODE = "private_mode"
USER_LIMIT = "user_limit"

_ON, _OFF = "1", "0"


class VideoService:
    """The core's front door for adapters and the CLI.

    Args:
        store: durable tasks and settings.
        pool: the configured providers (their profiles shape validation and offer).
        tracker: takes each new task from here to the user's thread.
        chats: the chat directories by platform, shared with the tracker.
        settings: models, deadline and the default per-user limit.
        media: the bot's media host, to check early that an image can be fetched.
        metrics: counts tasks received and cancelled (the tracker counts the rest).
        governor: gates, blocked words, quotas and refunds (built from ``store``
            and ``settings`` when not given).
    """

    def __init__(
        self,
        store: TaskStore,
        pool: ProviderPool,
        tracker: Tracker,
        chats: ChatRouter,
        settings: Settings,
        media: MediaHost,
        metrics: Metrics | None = None,
        governor: Governor | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._provider = pool.primary.provider
        self._tracker = tracker
        self._chats = chats
        self._settings = settings
        self._media = media
        self._metrics = metrics or Metrics()
        self.governance = governor or Governor(store, settings)
        self.offer = Offer.of(self.profiles)
        self.default_model = default_model(self.offer, settings.sora_model)
        # Counting a user's running tasks and adding a new one must not interleave,
        # or two quick submits would both slip under the limit.
        self._admission = asyncio.Lock()

    @property
    def profiles(self) -> tuple[CapabilityProfile, ...]:
        """The configured providers' profiles, in priority order: what members
        are offered (``offer``) and what a request is checked against."""
        return self._pool.profiles

    def register_chat(self, directory: ChatDirectory) -> None:
        """Route tasks of ``directory.platform`` to it (call before tracking starts)."""
        self._chats.register(directory)

    async def submit(self, request: GenerationRequest) -> Task:
        """Validate, apply private mode and the per-user limit, persist, post status.

        Raises ``UserInputError`` (nothing stored, nothing sent to the provider).
        Returns the task with ``task.chat`` filled by the adapter's ``post_status``.
        The provider submission happens in the background (tracker).
        """
        return await self._create(request)

    async def retry(self, task_id: str, requester: Requester) -> Task:
        """A new task with the same settings, in the original channel."""
        original = await self._store.get(task_id)
        request = original.request.model_copy(update={"requester": requester})
        return await self._create(request, parent=original)

    async def remix(self, task_id: str, prompt: str, requester: Requester) -> Task:
        """The provider's own remix of the finished video where it has one (and
        the video is not private); else a new video from the new prompt with the
        original's settings and image. ``rendering.remix_label`` names which."""
        original = await self._store.get(task_id)
        update: dict[str, object] = {"prompt": prompt, "requester": requester}
        source = remix_source(original)
        if source is not None:
            # The source generation carries the picture.
            update.update(remix_of=source, remix_at=original.provider, image=None)
        return await self._create(
            original.request.model_copy(update=update), parent=original
        )

    async def cancel(self, task_id: str, by: Requester, *, moderator: bool) -> Task:
        """Stop tracking a running task. Only its requester or a moderator may.

        Raises ``PermissionDenied`` or ``UserInputError`` (already finished).
        """
        task = await self._store.get(task_id)
        if by.user_id != task.request.requester.user_id and not moderator:
            raise PermissionDenied(
                "Only the person who asked for this video or a moderator can cancel it."
            )
        self._tracker.forget(task_id)
        # Re-read after the tracker let go: it may have finished the task meanwhile.
        task = await self._store.get(task_id)
        if not task.can_become(TaskState.CANCELLED):
            self._tracker.track(task)
            raise UserInputError("This video is already finished; nothing to cancel.")
        task.state = TaskState.CANCELLED
        task.updated_at = utcnow()
        await self._store.save(task)
        await self.governance.refund(task, None)
        self._metrics.task_reached(task)
        log.info(
            "task %s cancelled by %s",
            task.id,
            by.user_id,
            extra=task_fields(task, self._provider.name),
        )
        thread = self._chats.thread(task.chat)
        if thread is not None:
            try:
                await thread.edit_status(task)
            except Exception:
                log.exception("task %s: showing the cancellation failed", task.id)
        return task

    async def claim_once(self, key: str, ttl_seconds: float) -> bool:
        """True only for the first claim of ``key`` within ``ttl_seconds``.

        The database decides, not this process: a redelivered request (same key)
        that reaches another replica, or this one after a restart, gets False and
        must start nothing.
        """
        return await self._store.claim_once(key, ttl_seconds)

    async def get_task(self, task_id: str) -> Task:
        return await self._store.get(task_id)

    async def running_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        return await self._store.in_flight_for_user(platform, workspace_id, user_id)

    async def private_mode(self, chat: ChatRef) -> bool:
        """Channel setting if set, else the workspace's, else off."""
        workspace = Scope(platform=chat.platform, workspace_id=chat.workspace_id)
        channel = workspace.model_copy(update={"channel_id": chat.channel_id})
        value = await self._store.get_setting(channel, PRIVATE_MODE)
        if value is None:
            value = await self._store.get_setting(workspace, PRIVATE_MODE)
        return value == _ON

    async def set_private_mode(self, scope: Scope, enabled: bool | None) -> None:
        """``None`` clears a channel override (falls back to the workspace).

        Raises ``UserInputError`` (nothing stored) for "on" when no configured
        provider has a private field: the mode would be a label only.
        """
        if enabled and not self.offer.private:
            raise UserInputError(PRIVATE_UNAVAILABLE)
        value = None if enabled is None else (_ON if enabled else _OFF)
        await self._store.set_setting(scope, PRIVATE_MODE, value)

    def private_mode_note(self) -> str:
        """What private mode, found on, means here: the promise only where a
        configured provider can keep it."""
        return PRIVATE_MODE_NOTE if self.offer.private else PRIVATE_MODE_REFUSED

    async def user_limit(self, platform: Platform, workspace_id: str) -> int:
        scope = Scope(platform=platform, workspace_id=workspace_id)
        value = await self._store.get_setting(scope, USER_LIMIT)
        return self._settings.user_concurrency_limit if value is None else int(value)

    async def set_user_limit(
        self, platform: Platform, workspace_id: str, limit: int
    ) -> None:
        if limit < 1:
            raise UserInputError("The limit must be at least 1 video per person.")
        scope = Scope(platform=platform, workspace_id=workspace_id)
        await self._store.set_setting(scope, USER_LIMIT, str(limit))

    # -----------------------------------------------------------------------------

    async def _create(
        self, request: GenerationRequest, parent: Task | None = None
    ) -> Task:
        await self.governance.screen(request)
        # Private mode first, so a private request is checked as private.
        if not request.private and await self.private_mode(request.chat):
            request = request.model_copy(update={"private": True})
            public = request.model_copy(update={"private": False})
            if first_refusal(self.profiles, request) and not first_refusal(
                self.profiles, public
            ):
                raise UserInputError(PRIVATE_MODE_REFUSED)
        validate_request(request, self.profiles)
        if request.image is not None:
            # Before anything is stored, posted or sent: a cut-off file or a 72
            # megapixel one must be refused privately, not fail after the public
            # status message.
            await asyncio.to_thread(ensure_decodable, request.image.data)
        check_image_reachable(
            request.image, self._provider, self._media, request=request
        )
        async with self._admission:
            await self._check_user_limit(request)
            now = utcnow()
            task = Task(
                id=uuid.uuid4().hex,
                request=request,
                chat=request.chat,
                dialect=self._provider.dialect,
                callback_token=secrets.token_urlsafe(24),
                created_at=now,
                updated_at=now,
                deadline_at=now + timedelta(seconds=self._settings.task_deadline),
                parent_task_id=None if parent is None else parent.id,
            )
            # Counted when accepted, so a refusal comes before anything is posted;
            # a task that never reaches the provider is given back (``refund``).
            await self.governance.reserve(task, self._provider)
            try:
                await self._store.add(task)
            except BaseException:
                await self.governance.refund(task, None)
                raise
        self._metrics.task_reached(task)
        await self._open_thread(task)
        self._tracker.track(task)
        log.info(
            "task %s received from %s",
            task.id,
            request.requester.user_id,
            extra=task_fields(task, self._provider.name),
        )
        return task

    async def _check_user_limit(self, request: GenerationRequest) -> None:
        chat = request.chat
        limit = await self.user_limit(chat.platform, chat.workspace_id)
        running = await self._store.in_flight_for_user(
            chat.platform, chat.workspace_id, request.requester.user_id
        )
        if len(running) >= limit:
            videos = "video" if len(running) == 1 else "videos"
            raise UserInputError(
                f"You already have {len(running)} {videos} in progress; "
                "wait for one to finish."
            )

    async def _open_thread(self, task: Task) -> None:
        """Post the status message and keep where it went, so updates find it."""
        thread = self._chats.thread(task.chat)
        if thread is None:
            return
        try:
            task.chat = await thread.post_status(task)
        except Exception:
            # Nobody could follow this task, so it must not run (or be resumed) at
            # the provider's cost; the adapter reports the error to the member.
            task.state = TaskState.DELIVERED
            task.failure = Failure(
                kind=FailureKind.DELIVERY,
                message="The bot could not post its status message here.",
            )
            await self._store.save(task)
            await self.governance.refund(task, FailureKind.DELIVERY)
            raise
        await self._store.save(task)
