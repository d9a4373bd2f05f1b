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

from bot.audit.log import AUDIT_CHANNEL, AuditLog
from bot.audit.takedown import Takedowns
from bot.capabilities import CapabilityProfile, Offer, default_model, first_refusal
from bot.chats import ChatRouter
from bot.config import Settings
from bot.errors import PermissionDenied, StaleTask, UserInputError
from bot.governance import Governor
from bot.imaging import check_image_reachable, ensure_decodable
from bot.info import Limits, MemberInfo, ServerView
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
from bot.queue import USER_LIMIT, TaskQueue
from bot.rendering import (
    PRIVATE_MODE_NOTE,
    PRIVATE_MODE_REFUSED,
    PRIVATE_UNAVAILABLE,
    remix_source,
)
from bot.tracking import Tracker
from bot.validation import validate_request

log = logging.getLogger(__name__)

PRIVATE_MODE = "private_mode"
TAKEN_DOWN = "This video was removed by a moderator, so it cannot be used again."

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
        queue: admits each new task as running or waiting in line.
        audit: records finished videos and settings changes.
        takedowns: removes a delivered video for a moderator.
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
        *,
        queue: TaskQueue,
        audit: AuditLog,
        takedowns: Takedowns,
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
        self.queue = queue
        self.audit = audit
        self._takedowns = takedowns

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
        _refuse_taken_down(original)
        request = original.request.model_copy(update={"requester": requester})
        return await self._create(request, parent=original)

    async def remix(self, task_id: str, prompt: str, requester: Requester) -> Task:
        """The provider's own remix of the finished video where it has one (and
        the video is not private); else a new video from the new prompt with the
        original's settings and image. ``rendering.remix_label`` names which."""
        original = await self._store.get(task_id)
        _refuse_taken_down(original)
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
        task, was = await self._save_cancelled(task_id)
        waiting = was is TaskState.QUEUED
        await self.governance.refund(task, None)
        self._metrics.task_reached(task)
        log.info(
            "task %s cancelled by %s",
            task.id,
            by.user_id,
            extra=task_fields(task, self._provider.name),
        )
        await self._chats.show(task)
        if waiting:
            # Never a generation: nothing to audit, but the line moved up.
            chat = task.request.chat
            await self.queue.advance(chat.platform, chat.workspace_id)
        else:
            await self.finished(task)
        return task

    async def _save_cancelled(self, task_id: str) -> tuple[Task, TaskState]:
        """Save the task as cancelled unless it finished first; returns it and
        the state it was cancelled in.

        The save holds only while the state is still the one read, so a step on
        the replica carrying the task cannot be overwritten (nor overwrite the
        cancel); that replica is then told to let go (``Tracker.changed``).
        """
        while True:
            # Re-read after the tracker let go: it may have finished meanwhile.
            task = await self._store.get(task_id)
            if not task.can_become(TaskState.CANCELLED):
                self._tracker.track(task)
                raise UserInputError(
                    "This video is already finished; nothing to cancel."
                )
            was = task.state
            task.state = TaskState.CANCELLED
            task.updated_at = utcnow()
            try:
                await self._store.save(task, was=was)
            except StaleTask:
                continue  # a step elsewhere moved it on: look again
            await self._tracker.changed(task_id)
            return task, was

    async def claim_once(self, key: str, ttl_seconds: float) -> bool:
        """True only for the first claim of ``key`` within ``ttl_seconds``.

        The database decides, not this process: a redelivered request (same key)
        that reaches another replica, or this one after a restart, gets False and
        must start nothing.
        """
        return await self._store.claim_once(key, ttl_seconds)

    async def finished(self, task: Task) -> None:
        """A task is over (delivered or cancelled): audit it, start the next."""
        await self.audit.video_finished(task)
        chat = task.request.chat
        await self.queue.advance(chat.platform, chat.workspace_id)

    async def take_down(self, task_id: str, by: Requester, *, moderator: bool) -> Task:
        """Remove a delivered video (moderators only; see ``bot.audit.takedown``)."""
        return await self._takedowns.take_down(task_id, by, moderator=moderator)

    async def get_task(self, task_id: str) -> Task:
        return await self._store.get(task_id)

    async def limits(self, platform: Platform, workspace_id: str) -> Limits:
        return Limits(
            running=await self.user_limit(platform, workspace_id),
            waiting=self.queue.queue_limit,
            server_running=self.queue.server_limit,
        )

    async def info(
        self, chat: ChatRef, requester: Requester, *, moderator: bool
    ) -> MemberInfo:
        """The member's running and waiting videos here; with ``moderator``, the
        server's figures and active settings too."""
        platform, workspace_id = chat.platform, chat.workspace_id
        scope = Scope(platform=platform, workspace_id=workspace_id)
        running = await self._store.in_flight_for_user(
            platform, workspace_id, requester.user_id
        )
        queued = await self._store.queued(platform, workspace_id)
        mine = []
        for task in queued:
            if task.request.requester.user_id == requester.user_id:
                task.queue_position = await self.queue.position(task)
                mine.append(task)
        server = None
        if moderator:
            counts = await self._store.running_counts(platform, workspace_id)
            server = ServerView(
                running=sum(counts.values()),
                waiting=len(queued),
                settings=await self._active_settings(chat),
                governance=await self.governance.describe(scope),
            )
        return MemberInfo(
            running=tuple(t for t in running if t.state is not TaskState.QUEUED),
            queued=tuple(mine),
            limits=await self.limits(platform, workspace_id),
            private=await self.private_mode(chat),
            private_note=self.private_mode_note(),
            use_today=await self.governance.member_use(scope, requester.user_id),
            server=server,
        )

    async def mine(self, chat: ChatRef, requester: Requester) -> list[Task]:
        """The member's newest videos on this server ("my videos")."""
        return await self._store.recent_for_user(
            chat.platform, chat.workspace_id, requester.user_id
        )

    async def _active_settings(self, chat: ChatRef) -> tuple[tuple[str, str], ...]:
        workspace = Scope(platform=chat.platform, workspace_id=chat.workspace_id)
        private = await self._store.get_setting(workspace, PRIVATE_MODE)
        audit = await self.audit.channel(chat.platform, chat.workspace_id)
        return (
            ("private mode (server)", "on" if private == _ON else "off"),
            (
                "running videos per member",
                str(await self.user_limit(chat.platform, chat.workspace_id)),
            ),
            ("waiting videos per member", str(self.queue.queue_limit)),
            (
                "running videos on the server",
                "no limit"
                if self.queue.server_limit is None
                else str(self.queue.server_limit),
            ),
            ("audit channel", "none" if audit is None else audit),
        )

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

    async def set_private_mode(
        self, scope: Scope, enabled: bool | None, by: Requester | None = None
    ) -> None:
        """``None`` clears a channel override (falls back to the workspace).

        Raises ``UserInputError`` (nothing stored) for "on" when no configured
        provider has a private field: the mode would be a label only.
        """
        if enabled and not self.offer.private:
            raise UserInputError(PRIVATE_UNAVAILABLE)
        value = None if enabled is None else (_ON if enabled else _OFF)
        await self._change_setting(scope, PRIVATE_MODE, value, by)

    def private_mode_note(self) -> str:
        """What private mode, found on, means here: the promise only where a
        configured provider can keep it."""
        return PRIVATE_MODE_NOTE if self.offer.private else PRIVATE_MODE_REFUSED

    async def user_limit(self, platform: Platform, workspace_id: str) -> int:
        return await self.queue.user_limit(platform, workspace_id)

    async def set_user_limit(
        self,
        platform: Platform,
        workspace_id: str,
        limit: int,
        by: Requester | None = None,
    ) -> None:
        if limit < 1:
            raise UserInputError("The limit must be at least 1 video per person.")
        scope = Scope(platform=platform, workspace_id=workspace_id)
        await self._change_setting(scope, USER_LIMIT, str(limit), by)
        # A higher limit frees slots for whoever is waiting.
        await self.queue.advance(platform, workspace_id)

    async def audit_channel(self, platform: Platform, workspace_id: str) -> str | None:
        return await self.audit.channel(platform, workspace_id)

    async def set_audit_channel(
        self, scope: Scope, channel_id: str | None, by: Requester | None = None
    ) -> None:
        """Where the server's audit entries go (``None``: nowhere; still stored)."""
        workspace = scope.model_copy(update={"channel_id": None})
        await self._change_setting(workspace, AUDIT_CHANNEL, channel_id, by)

    async def _change_setting(
        self, scope: Scope, key: str, value: str | None, by: Requester | None
    ) -> None:
        """Store a setting; with who changed it, the audit log records it too."""
        if by is None:
            await self._store.set_setting(scope, key, value)
        else:
            await self.governance.change_setting(scope, key, value, by.user_id)

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
        try:
            # Counted against the quotas when it starts (now, or when its turn
            # comes), so a refusal comes before anything is posted.
            task = await self.queue.admit(task)
        except BaseException:
            # Whatever was reserved is given back (nothing, if nothing was).
            await self.governance.refund(task, None)
            raise
        self._metrics.task_reached(task)
        task = await self._open_thread(task)
        if task.state is TaskState.QUEUED:
            # The line may have moved while the status was being posted.
            position = await self.queue.position(task)
            if position != task.queue_position:
                task.queue_position = position
                await self._chats.show(task)
        self._tracker.track(task)
        log.info(
            "task %s %s from %s",
            task.id,
            task.state.value,
            request.requester.user_id,
            extra=task_fields(task, self._provider.name),
        )
        return task

    async def _open_thread(self, task: Task) -> Task:
        """Post the status message and keep where it went, so updates find it.

        Returns the task as stored now: a queued one may have started meanwhile.
        """
        thread = self._chats.thread(task.chat)
        if thread is None:
            return task
        try:
            chat = await thread.post_status(task)
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
        return await self.queue.posted(task, chat)


def _refuse_taken_down(task: Task) -> None:
    if task.taken_down_at is not None:
        raise UserInputError(TAKEN_DOWN)
