"""The steps that carry one task: submit, poll, fetch, fail and deliver.

Each step reads the slot (and the task from the store only when its state is
about to change), does one thing with the provider or the chat, persists the
outcome and sets when the slot is due next. The rules it applies (waits, limits,
failure kinds) are ``bot.tracking.policy``'s.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.chats import ChatRouter
from bot.config import DEFAULT_PROVIDER
from bot.errors import (
    ConfigError,
    CreateOutcomeUnknown,
    ProviderError,
    ProviderProtocolError,
    StaleTask,
    TaskNotFound,
    UserInputError,
)
from bot.governance import Refunds
from bot.logs import TASK_FIELDS, task_fields
from bot.metrics import Metrics
from bot.models import (
    Failure,
    FailureKind,
    Progress,
    ProviderState,
    Task,
    TaskState,
    TaskStatus,
    utcnow,
)
from bot.ports import Submission, TaskStore
from bot.providers.pool import NoProviderTook, PoolMember, ProviderPool
from bot.tracking.images import PrepareImage
from bot.tracking.policy import (
    DELIVERY_CLAIM_TTL,
    MAX_DELIVERY_ATTEMPTS,
    MAX_DOWNLOAD_ATTEMPTS,
    MAX_POLL_PROTOCOL_ERRORS,
    MAYBE_POSTED,
    MIN_CREATE_WINDOW,
    NO_OUTCOME,
    NONE_TOOK,
    NOT_POSTED,
    TOOK_TOO_LONG,
    callback_base,
    delivery_claim,
    failure_for,
    not_resent,
    retry_or_fail,
)
from bot.tracking.scheduler import Scheduler, Slot
from bot.tracking.timing import Timing

log = logging.getLogger(__name__)

OnFinished = Callable[[Task], Awaitable[None]]


class _Abandoned(Exception):
    """The task was cancelled while its create was being prepared: send nothing."""


def new_slot(task: Task, due: float) -> Slot:
    """The slot that carries ``task``, due at ``due``."""
    slot = Slot(task, due, _display_json(task))
    slot.log = task_fields(task, task.provider or "-")
    return slot


class Steps:
    """Runs the next step of a slot the scheduler says is due (see ``Tracker``)."""

    def __init__(
        self,
        store: TaskStore,
        pool: ProviderPool,
        scheduler: Scheduler,
        timing: Timing,
        *,
        chats: ChatRouter,
        media_dir: Path,
        public_url: str | None,
        prepare_image: PrepareImage,
        create_timeout: float,
        refunds: Refunds,
        clock: Callable[[], float],
        metrics: Metrics,
        on_finished: OnFinished | None,
        holder: str,
        take: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._store = store
        # Every save is conditional on this replica still holding the task's
        # lease and on the state it last read: a replica whose task was taken
        # over, or a step racing a cancel, changes nothing (``StaleTask``).
        self._holder = holder
        self._take = take
        self._pool = pool
        self._scheduler = scheduler
        self._timing = timing
        self._chats = chats
        self._videos = media_dir / "videos"
        self._callback_bases = {
            m.name: callback_base(public_url, m.provider) for m in pool.members
        }
        self._prepare_image = prepare_image
        self._refunds = refunds
        self._create_timeout = create_timeout
        self._create_floor = min(MIN_CREATE_WINDOW, create_timeout)
        self._clock = clock
        self._metrics = metrics
        self._on_finished = on_finished

    async def run(self, slot: Slot) -> None:
        """The slot's next step, with the task's fields on every log line meanwhile."""
        token = TASK_FIELDS.set(slot.log)
        try:
            await self._step(slot)
        finally:
            TASK_FIELDS.reset(token)

    def on_error(self, slot: Slot, exc: Exception) -> None:
        """A step raised: drop a vanished task, try anything else again later."""
        if isinstance(exc, TaskNotFound):
            log.warning("task %s vanished from the store; dropping it", slot.id)
            self._forget(slot)
            return
        # A bug or a store failure must not stop the tracker; try again later.
        log.error("task %s: unexpected error; will retry", slot.id, exc_info=exc)
        slot.errors += 1
        self._timing.due_in(slot, self._timing.backoff(slot.errors))

    def _forget(self, slot: Slot) -> None:
        self._scheduler.remove(slot.id)

    async def _step(self, slot: Slot) -> None:
        if slot.finished is not None:
            await self._succeed(slot, slot.finished)
        elif slot.state.in_flight and self._clock() >= slot.deadline:
            await self._fail_loaded(
                slot,
                Failure(kind=FailureKind.TIMEOUT, message=TOOK_TOO_LONG),
            )
        elif slot.state is TaskState.RECEIVED:
            await self._submit(slot)
        elif slot.state.in_flight:
            await self._poll(slot)
        elif slot.state.awaiting_delivery:
            await self._deliver(slot, await self._load(slot))
        else:
            self._forget(slot)

    async def _load(self, slot: Slot) -> Task:
        task = await self._store.get(slot.id)
        # Progress alone is kept in memory and saved with the next state change.
        task.progress = task.progress.advanced_to(Progress(percent=slot.percent))
        if task.state is not slot.state:
            # Someone else moved it (a cancel); follow the store.
            slot.state = task.state
            if not task.state.tracked:
                self._forget(slot)
        slot.view = _display_json(task)
        return task

    async def _commit(self, slot: Slot, task: Task) -> bool:
        """Persist ``task`` and show it; False if the task was cancelled meanwhile."""
        if not self._scheduler.current(slot):
            return False
        task.updated_at = utcnow()
        await self._store.save(task, holder=self._holder, was=slot.state)
        self._metrics.task_reached(task)
        slot.state = task.state
        slot.percent = task.progress.percent
        slot.provider = task.provider
        slot.provider_task_id = task.provider_task_id
        slot.view = _display_json(task)
        if not self._scheduler.current(slot):
            return False
        await self._chats.show(task)
        return True

    async def _submit(self, slot: Slot) -> None:
        task = await self._load(slot)
        if task.state is not TaskState.RECEIVED:
            return
        if task.provider:
            # A create went out before the bot stopped and its answer was never
            # saved: the provider may have taken it, so it is not sent again.
            log.warning(
                "task %s: a create sent to %s before a restart has no saved "
                "answer; not re-sending it",
                task.id,
                task.provider,
            )
            why = "had not answered when the bot stopped"
            await self._fail(slot, task, not_resent(why))
            return
        now = self._clock()
        if slot.submit_since is None:
            slot.submit_since = now
        left = slot.submit_since + self._create_timeout - now
        try:
            placed = await self._pool.place(
                task.request,
                functools.partial(self._send, slot, task),
                window=max(left, self._create_floor),
                last=await self._unanswered_parent(task),
            )
        except _Abandoned:
            return
        except (UserInputError, ConfigError) as exc:
            kind = (
                FailureKind.INVALID_INPUT
                if isinstance(exc, UserInputError)
                else FailureKind.PROVIDER_CONFIG
            )
            if isinstance(exc, ConfigError):
                log.error("task %s cannot be submitted: %s", task.id, exc)
            await self._fail(slot, task, Failure(kind=kind, message=exc.user_message))
            return
        except CreateOutcomeUnknown as exc:
            log.warning("task %s: %s; not re-sending it anywhere", task.id, exc)
            await self._fail(slot, task, not_resent(exc.why))
            return
        except NoProviderTook as exc:
            await self._none_took(slot, task, exc)
            return
        except ProviderError as exc:
            # The provider refused this very request: the member is told why.
            await self._fail(slot, task, failure_for(exc))
            return
        slot.errors = 0
        slot.submit_since = None
        task.provider_task_id = placed.provider_task_id
        task.state = TaskState.SUBMITTED
        log.info(
            "task %s submitted as %s to provider %s",
            task.id,
            placed.provider_task_id,
            placed.member.name,
        )
        if await self._commit(slot, task):
            self._timing.next_poll(slot, earliest=0.5)

    async def _send(self, slot: Slot, task: Task, member: PoolMember) -> str:
        """Prepare the create for ``member`` and send it; its id if taken.

        The provider's name is saved first: if the bot stops before the answer is
        saved, the restart knows a create may be out and does not send another.
        """
        request = task.request
        image = (
            None
            if request.image is None
            else await self._prepare_image(request.image, request, member.provider)
        )
        callback_url = None
        base = self._callback_bases[member.name]
        if base is not None and task.callback_token:
            callback_url = f"{base}/callbacks/{task.callback_token}"
        if not self._scheduler.current(slot):
            raise _Abandoned
        task.provider = member.name
        task.dialect = member.provider.dialect
        # This step's log lines from here on, and the task's next ones, name it.
        slot.log = task_fields(task, member.name)
        TASK_FIELDS.set(slot.log)
        task.updated_at = utcnow()
        # The claim on the create: once this save holds, no replica sends it.
        await self._store.save(task, holder=self._holder, was=TaskState.RECEIVED)
        submission = Submission(request=request, image=image, callback_url=callback_url)
        return await member.provider.create(submission)

    async def _unanswered_parent(self, task: Task) -> str | None:
        """The provider a retried task's original create got no answer from.

        A retry tries the other providers first: that one may be hung.
        """
        if task.parent_task_id is None:
            return None
        try:
            parent = await self._store.get(task.parent_task_id)
        except TaskNotFound:
            return None
        unanswered = parent.provider_task_id is None and parent.failure is not None
        return (parent.provider or None) if unanswered else None

    async def _none_took(self, slot: Slot, task: Task, exc: NoProviderTook) -> None:
        """No provider took the task: try again within its window, or tell why."""
        for name, error in exc.errors:
            log.warning("task %s: %s did not take it: %s", task.id, name, error)
        task.provider = ""  # nothing is out: a restart may send it again
        assert slot.submit_since is not None  # noqa: S101 - set by _submit
        room = (
            slot.submit_since
            + self._create_timeout
            - self._clock()
            - self._create_floor
        )
        if exc.retryable and room > 0:
            slot.errors += 1
            delay = min(self._timing.backoff(slot.errors, exc.retry_after), room)
            if self._scheduler.current(slot):
                task.updated_at = utcnow()
                await self._store.save(
                    task, holder=self._holder, was=TaskState.RECEIVED
                )
            self._timing.due_in(slot, delay)
            return
        slot.submit_since = None
        if exc.errors and not exc.retryable:
            # Refused keys or accounts out of credit: the operator must act.
            await self._fail(slot, task, failure_for(exc.errors[0][1]))
            return
        await self._fail(
            slot,
            task,
            Failure(kind=FailureKind.PROVIDER_ERROR, message=NONE_TOOK),
        )

    def _member(self, slot: Slot) -> PoolMember | None:
        """The provider that took the task; tasks from before several providers
        were possible name none and belong to the default one."""
        return self._pool.get(slot.provider or DEFAULT_PROVIDER)

    async def _gone(self, slot: Slot) -> None:
        """The task's provider is no longer configured: nobody can finish it."""
        name = slot.provider or DEFAULT_PROVIDER
        log.error(
            "task %s was taken by provider %s, which is no longer configured "
            "(SORA_PROVIDERS); it is failed",
            slot.id,
            name,
        )
        await self._fail_loaded(
            slot,
            Failure(
                kind=FailureKind.PROVIDER_CONFIG,
                message=(
                    f"This video was being made by the video service {name!r}, "
                    "which the bot no longer uses, so it cannot be fetched. "
                    "Press Retry to make it again."
                ),
            ),
        )

    async def _poll(self, slot: Slot) -> None:
        if slot.provider_task_id is None:  # only a damaged row gets here
            await self._fail_loaded(
                slot,
                Failure(kind=FailureKind.PROVIDER_ERROR, message=NO_OUTCOME),
            )
            return
        member = self._member(slot)
        if member is None:
            await self._gone(slot)
            return
        try:
            status = await member.query(slot.provider_task_id)
        except ProviderError as exc:
            # Asking again is free, so a relay's hiccup is retried until the
            # deadline; only a run of garbled answers gives up early.
            garbled = isinstance(exc, ProviderProtocolError)
            failure = self._retry_or_fail(
                slot,
                exc,
                limit=MAX_POLL_PROTOCOL_ERRORS if garbled else None,
                retry_garbled=True,
            )
            if failure is not None:
                await self._fail_loaded(slot, failure)
            return
        slot.errors = 0
        if status.state is ProviderState.SUCCEEDED:
            # Fetched and delivered by the slow lane, next (see the scheduler).
            slot.finished = status
            slot.due = self._clock()
            slot.finished_at = slot.finished_at or slot.due
        elif status.state is ProviderState.FAILED:
            task = await self._load(slot)
            task.progress = task.progress.advanced_to(status.progress)
            await self._fail(
                slot,
                task,
                status.failure
                or Failure(kind=FailureKind.PROVIDER_ERROR, message=NO_OUTCOME),
            )
        else:
            await self._progress(slot, status)

    async def _progress(self, slot: Slot, status: TaskStatus) -> None:
        running = status.state is ProviderState.RUNNING
        state = TaskState.RUNNING if running else slot.state
        if state is not slot.state:
            task = await self._load(slot)
            if not task.state.in_flight:
                return
            task.state = state
            task.progress = task.progress.advanced_to(status.progress)
            if not await self._commit(slot, task):
                return
        elif status.progress.percent > slot.percent:
            # Neither saved nor read back: at 10,000 tasks that would be 1,000
            # database round trips a second. After a crash the provider's next
            # answer restores the figure; a cancel makes the slot not current.
            slot.percent = status.progress.percent
            view = Task.model_validate_json(slot.view)
            view.progress = Progress(percent=slot.percent)
            if not self._scheduler.current(slot) or not view.state.in_flight:
                return
            await self._chats.show(view)
        self._timing.next_poll(slot)

    async def _succeed(self, slot: Slot, status: TaskStatus) -> None:
        slot.finished = None  # a failed download asks the provider again first
        task = await self._load(slot)
        if not task.state.in_flight or task.provider_task_id is None:
            return
        member = self._member(slot)
        if member is None:
            await self._gone(slot)
            return
        self._videos.mkdir(parents=True, exist_ok=True)
        dest = self._videos / f"{task.id}.mp4"
        try:
            result = await member.download(task.provider_task_id, status, dest)
        except ProviderError as exc:
            failure = self._retry_or_fail(slot, exc, limit=MAX_DOWNLOAD_ATTEMPTS)
            if failure is not None:
                await self._fail(slot, task, failure)
            return
        task.result = result
        task.progress = Progress(percent=100)
        task.state = TaskState.SUCCEEDED
        log.info("task %s succeeded (%d bytes)", task.id, result.size_bytes)
        if await self._commit(slot, task):
            await self._deliver(slot, task)

    async def _fail_loaded(self, slot: Slot, failure: Failure) -> None:
        await self._fail(slot, await self._load(slot), failure)

    async def _fail(self, slot: Slot, task: Task, failure: Failure) -> None:
        if not task.can_become(TaskState.FAILED):
            return
        task.state = TaskState.FAILED
        task.failure = failure
        slot.errors = 0
        log.info("task %s failed: %s", task.id, failure.kind.value)
        await self._refunds.refund(task, failure.kind)
        if await self._commit(slot, task):
            await self._deliver(slot, task)

    async def _deliver(self, slot: Slot, task: Task) -> None:
        """Post the video or the reason, then mark the task delivered."""
        if not task.state.awaiting_delivery:
            return
        thread = self._chats.thread(task.chat)
        if thread is None:
            log.warning(
                "task %s is %s but no %s chat is configured; it will be delivered "
                "when one is",
                task.id,
                task.state.value,
                task.chat.platform.value,
            )
            self._forget(slot)
            return
        if not slot.claimed:
            # Still this replica's? One that lost the lease while it was stalled
            # must not post what the new holder is about to post.
            if not await self._take(task.id):
                raise StaleTask(task.id)
            if not await self._store.claim_once(
                delivery_claim(task.id), DELIVERY_CLAIM_TTL
            ):
                await self._posted_before(slot, task)
                return
            slot.claimed = True
        try:
            if task.state is TaskState.SUCCEEDED and task.result is not None:
                posted = await thread.post_video(task, task.result)
                if posted is not None:
                    task.chat = posted
            elif task.failure is not None:
                await thread.post_error(task, task.failure)
        except Exception:
            slot.errors += 1
            log.exception("task %s: posting the outcome failed", task.id)
            if slot.errors < MAX_DELIVERY_ATTEMPTS:
                self._timing.due_in(slot, self._timing.backoff(slot.errors))
            elif task.state is TaskState.SUCCEEDED:
                await self._fail(
                    slot,
                    task,
                    Failure(kind=FailureKind.DELIVERY, message=NOT_POSTED),
                )
            else:
                self._forget(slot)
            return
        self._metrics.delivered(task, slot.finished_at, self._clock())
        task.state = TaskState.DELIVERED
        if await self._commit(slot, task):
            self._forget(slot)
            await self._finished(task)

    async def _posted_before(self, slot: Slot, task: Task) -> None:
        """Posting this outcome was claimed before (by a replica that died, or
        this one before a crash) and may have happened: it is not posted again.
        The status message says so, and Retry makes the video anew."""
        log.warning(
            "task %s: its outcome may have been posted already (claimed before a "
            "replica stopped); not posting it again",
            task.id,
        )
        if task.state is TaskState.SUCCEEDED:
            task.failure = Failure(kind=FailureKind.DELIVERY, message=MAYBE_POSTED)
        task.state = TaskState.DELIVERED
        if await self._commit(slot, task):
            self._forget(slot)
            await self._finished(task)

    async def _finished(self, task: Task) -> None:
        if self._on_finished is None:
            return
        try:
            await self._on_finished(task)
        except Exception:
            log.exception("task %s: the finished hook failed", task.id)

    def _retry_or_fail(
        self,
        slot: Slot,
        exc: ProviderError,
        *,
        limit: int | None,
        retry_garbled: bool = False,
    ) -> Failure | None:
        """Schedule a retry and return None, or say why the task failed for good."""
        outcome = retry_or_fail(
            exc,
            slot.errors,
            poll_interval=self._timing.poll_interval,
            limit=limit,
            retry_garbled=retry_garbled,
        )
        if isinstance(outcome, Failure):
            return outcome
        slot.errors += 1
        log.warning(
            "task %s: %s; retrying in %.1f s", slot.id, type(exc).__name__, outcome
        )
        self._timing.due_in(slot, outcome)
        return None


def _display_json(task: Task) -> str:
    """``task`` as JSON for status edits only, without a reference image's bytes.

    Every tracked task keeps one, so 10,000 of them must not pin 10,000 images in
    memory; rendering only asks whether there was an image.
    """
    image = task.request.image
    if image is not None:
        request = task.request.model_copy(
            update={"image": image.model_copy(update={"data": b""})}
        )
        task = task.model_copy(update={"request": request})
    return task.model_dump_json()
