"""One scheduler that carries every task from submission to the user's thread.

All in-flight tasks share a heap of due times, one loop that hands due tasks to a
fixed pool of workers (the pool size bounds concurrent provider calls), and per task
only a small ``Slot`` (ids, due time, counters, and the task as last shown, as one
JSON string). The full ``Task`` is read from the store and written back only when
its state changes; a change of progress alone is shown from the slot. So 10,000
tasks polled every 10 s cost little memory and no database reads or writes while
they merely advance.

Each step is persisted before the next one starts (submitted -> running ->
succeeded with the result on disk -> delivered), so a crash anywhere resumes at the
right step and, in normal operation, the user is told the outcome exactly once.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.chats import ChatRouter
from bot.config import DEFAULT_PROVIDER
from bot.errors import (
    ConfigError,
    CreateOutcomeUnknown,
    ProviderAuthError,
    ProviderError,
    ProviderModerated,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    TaskNotFound,
    UserInputError,
    not_resent_message,
)
from bot.governance import NoRefunds, Refunds
from bot.logs import TASK_FIELDS, task_fields
from bot.metrics import Metrics
from bot.models import (
    Failure,
    FailureKind,
    GenerationRequest,
    ImageInput,
    Progress,
    ProviderState,
    Task,
    TaskState,
    TaskStatus,
    utcnow,
)
from bot.ports import (
    PreparedImage,
    Submission,
    TaskStore,
    VideoProvider,
)
from bot.providers.pool import NoProviderTook, PoolMember, ProviderPool
from bot.scheduler import Scheduler, Slot
from bot.validation import sniff_image_type

log = logging.getLogger(__name__)

PrepareImage = Callable[
    [ImageInput, GenerationRequest, VideoProvider], Awaitable[PreparedImage]
]
OnFinished = Callable[[Task], Awaitable[None]]

MAX_DOWNLOAD_ATTEMPTS = 6
MAX_POLL_PROTOCOL_ERRORS = 5
MAX_DELIVERY_ATTEMPTS = 5
# The least time a create is given to be answered, even late in its window.
MIN_CREATE_WINDOW = 5.0
# Polls come this share of the interval apart, so a finished task is noticed
# within one interval even when a query starts a little late.
POLL_SHARE = 0.95
_NO_OUTCOME = "The video service could not make this video."
_NONE_TOOK = (
    "No video service could take this request right now (busy or unreachable); "
    "nothing was charged. Press Retry to try again."
)


class _Abandoned(Exception):
    """The task was cancelled while its create was being prepared: send nothing."""


async def upload_as_is(
    image: ImageInput, request: GenerationRequest, provider: VideoProvider
) -> PreparedImage:
    """The image unchanged, for providers that take an upload of any size."""
    return PreparedImage(
        filename=image.filename,
        content_type=sniff_image_type(image.data) or image.content_type,
        data=image.data,
    )


class Tracker:
    """Submits, polls, downloads and delivers every task, resuming after restarts.

    Args:
        store: where tasks live; the source of truth between steps.
        pool: the configured providers; a task stays with the one that took it.
        chats: finds each task's chat thread by its platform.
        media_dir: videos are downloaded to ``media_dir/videos/<task id>.mp4``.
        poll_interval: seconds between status queries of one task.
        public_url: the bot's public base URL; with it, dialects that take a
            callback get ``<public_url>/callbacks/<token>``.
        prepare_image: fits and hosts a reference image for one provider.
        create_timeout: seconds every provider together gets to take a new task
            before the member is told (``SORA_CREATE_TIMEOUT``).
        concurrency: at most this many steps (provider calls) at once.
        refunds: gives failed tasks back to the quotas (``bot.governance``).
        clock: wall-clock seconds, injectable so tests can jump past deadlines.
        metrics: counts state changes and delivery times; its gauges read ours.
        on_finished: told once a task's outcome has been delivered (a running
            slot is free: the queue starts the next; the audit log records it).
    """

    def __init__(
        self,
        store: TaskStore,
        pool: ProviderPool,
        *,
        chats: ChatRouter,
        media_dir: Path,
        poll_interval: float,
        public_url: str | None = None,
        prepare_image: PrepareImage = upload_as_is,
        create_timeout: float = 60.0,
        concurrency: int = 64,
        refunds: Refunds | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        on_finished: OnFinished | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._chats = chats
        self._videos = media_dir / "videos"
        self.poll_interval = poll_interval
        self._callback_bases = {
            m.name: _callback_base(public_url, m.provider) for m in pool.members
        }
        self._prepare_image = prepare_image
        self._refunds = refunds or NoRefunds()
        self._create_timeout = create_timeout
        self._create_floor = min(MIN_CREATE_WINDOW, create_timeout)
        self._clock = clock
        self._on_finished = on_finished
        self._scheduler = Scheduler(
            self._logged_step, self._on_error, concurrency=concurrency, clock=clock
        )
        self._metrics = metrics or Metrics()
        self._metrics.watch_tracker(lambda: self.tracked, self._scheduler.waiting)

    @property
    def tracked(self) -> int:
        """How many tasks the tracker is carrying right now."""
        return len(self._scheduler)

    async def start(self) -> None:
        """Resume every unfinished task, then start the scheduler and workers."""
        for task in await self._store.unfinished():
            self.track(task)
        log.info("tracker started with %d unfinished task(s)", self.tracked)
        self._scheduler.start()

    def track(self, task: Task) -> None:
        """Carry ``task`` on from its current state, starting now."""
        if task.id in self._scheduler:
            return
        if task.state.in_flight or task.state.awaiting_delivery:
            slot = Slot(task, self._clock(), _display_json(task))
            slot.log = task_fields(task, task.provider or "-")
            if slot.provider_task_id is not None and task.state.in_flight:
                # Resumed after a restart: spread the first polls over one period.
                self._next_poll(slot, earliest=0.0)
            self._scheduler.add(slot)

    def poke(self, task_id: str) -> None:
        """Query ``task_id`` now (a callback hinted at news); ignores unknown ids."""
        self._scheduler.run_now(task_id)

    def forget(self, task_id: str) -> None:
        """Stop carrying ``task_id`` (cancelled); a step under way saves no more."""
        self._scheduler.remove(task_id)

    async def aclose(self, grace: float = 3.0) -> None:
        """Stop: let steps under way finish for up to ``grace`` s, then cancel them.

        Every step persists before moving on, so whatever is cut short is redone by
        the next ``start``; nothing already saved is lost.
        """
        await self._scheduler.aclose(grace)

    # -- timing ------------------------------------------------------------------------

    def _due_in(self, slot: Slot, delay: float) -> None:
        slot.due = self._clock() + delay
        if slot.state.in_flight:
            # Wake up for the deadline even if the provider keeps us waiting.
            slot.due = min(slot.due, slot.deadline)

    def _next_poll(self, slot: Slot, *, earliest: float | None = None) -> None:
        """Make ``slot`` due one polling period from now.

        With ``earliest`` (a share of the period) the wait is random instead, for a
        task's first poll: tasks started or resumed together then query at
        different moments, and the fixed period afterwards keeps them apart.
        The period is the same when a callback is expected: callbacks report the
        end, not progress, so they may only shorten the wait for the end.
        """
        period = self.poll_interval * POLL_SHARE
        if earliest is not None:
            period *= random.uniform(earliest, 1.0)
        self._due_in(slot, period)

    def _backoff(self, errors: int, retry_after: float | None = None) -> float:
        base = min(self.poll_interval, 2.0)
        cap = max(self.poll_interval * 6, 60.0)
        delay = min(cap, base * 2.0 ** min(errors, 16)) * random.uniform(0.5, 1.0)
        return max(delay, retry_after or 0.0)

    def _on_error(self, slot: Slot, exc: Exception) -> None:
        if isinstance(exc, TaskNotFound):
            log.warning("task %s vanished from the store; dropping it", slot.id)
            self.forget(slot.id)
            return
        # A bug or a store failure must not stop the tracker; try again later.
        log.error("task %s: unexpected error; will retry", slot.id, exc_info=exc)
        slot.errors += 1
        self._due_in(slot, self._backoff(slot.errors))

    # -- steps -------------------------------------------------------------------------

    async def _logged_step(self, slot: Slot) -> None:
        """``_step`` with the task's fields on every log line written meanwhile."""
        token = TASK_FIELDS.set(slot.log)
        try:
            await self._step(slot)
        finally:
            TASK_FIELDS.reset(token)

    async def _step(self, slot: Slot) -> None:
        if slot.finished is not None:
            await self._succeed(slot, slot.finished)
        elif slot.state.in_flight and self._clock() >= slot.deadline:
            await self._fail_loaded(
                slot,
                Failure(kind=FailureKind.TIMEOUT, message="The video took too long."),
            )
        elif slot.state is TaskState.RECEIVED:
            await self._submit(slot)
        elif slot.state.in_flight:
            await self._poll(slot)
        elif slot.state.awaiting_delivery:
            await self._deliver(slot, await self._load(slot))
        else:
            self.forget(slot.id)

    async def _load(self, slot: Slot) -> Task:
        task = await self._store.get(slot.id)
        # Progress alone is kept in memory and saved with the next state change.
        task.progress = task.progress.advanced_to(Progress(percent=slot.percent))
        if task.state is not slot.state:
            # Someone else moved it (a cancel); follow the store.
            slot.state = task.state
            if not (task.state.in_flight or task.state.awaiting_delivery):
                self.forget(slot.id)
        slot.view = _display_json(task)
        return task

    async def _commit(self, slot: Slot, task: Task) -> bool:
        """Persist ``task`` and show it; False if the task was cancelled meanwhile."""
        if not self._scheduler.current(slot):
            return False
        task.updated_at = utcnow()
        await self._store.save(task)
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
            await self._fail(slot, task, _not_resent(why))
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
            await self._fail(slot, task, _not_resent(exc.why))
            return
        except NoProviderTook as exc:
            await self._none_took(slot, task, exc)
            return
        except ProviderError as exc:
            # The provider refused this very request: the member is told why.
            await self._fail(slot, task, _failure(exc))
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
            self._next_poll(slot, earliest=0.5)

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
        await self._store.save(task)
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
            delay = min(self._backoff(slot.errors, exc.retry_after), room)
            if self._scheduler.current(slot):
                task.updated_at = utcnow()
                await self._store.save(task)
            self._due_in(slot, delay)
            return
        slot.submit_since = None
        if exc.errors and not exc.retryable:
            # Refused keys or accounts out of credit: the operator must act.
            await self._fail(slot, task, _failure(exc.errors[0][1]))
            return
        await self._fail(
            slot, task, Failure(kind=FailureKind.PROVIDER_ERROR, message=_NONE_TOOK)
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
                slot, Failure(kind=FailureKind.PROVIDER_ERROR, message=_NO_OUTCOME)
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
            # Fetched and delivered by the slow lane, next (see bot.scheduler).
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
                or Failure(kind=FailureKind.PROVIDER_ERROR, message=_NO_OUTCOME),
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
        self._next_poll(slot)

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
            self.forget(slot.id)
            return
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
                self._due_in(slot, self._backoff(slot.errors))
            elif task.state is TaskState.SUCCEEDED:
                await self._fail(
                    slot,
                    task,
                    Failure(
                        kind=FailureKind.DELIVERY,
                        message="The video was made but could not be posted here.",
                    ),
                )
            else:
                self.forget(slot.id)
            return
        self._metrics.delivered(task, slot.finished_at, self._clock())
        task.state = TaskState.DELIVERED
        if await self._commit(slot, task):
            self.forget(slot.id)
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
        """Schedule a retry and return None, or say why the task failed for good.

        ``limit`` bounds consecutive retries (None: until the task's deadline);
        ``retry_garbled`` also retries answers that could not be understood.
        """
        retryable = exc.retryable or (
            retry_garbled and isinstance(exc, ProviderProtocolError)
        )
        if retryable and (limit is None or slot.errors < limit):
            slot.errors += 1
            retry_after = (
                exc.retry_after if isinstance(exc, ProviderRateLimited) else None
            )
            delay = self._backoff(slot.errors, retry_after)
            log.warning(
                "task %s: %s; retrying in %.1f s", slot.id, type(exc).__name__, delay
            )
            self._due_in(slot, delay)
            return None
        return _failure(exc)


def _callback_base(public_url: str | None, provider: VideoProvider) -> str | None:
    """Where the provider's callbacks go, or None to rely on polling alone."""
    if not public_url or not provider.profile.callbacks:
        return None
    if provider.profile.https_callbacks_only and not public_url.lower().startswith(
        "https://"
    ):
        # Sending it anyway would get every create refused.
        log.warning(
            "PUBLIC_URL is not https and the %s dialect accepts only https callback "
            "URLs, so tasks are polled without callbacks.",
            provider.dialect,
        )
        return None
    return public_url.rstrip("/")


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


def _not_resent(why: str) -> Failure:
    return Failure(kind=FailureKind.PROVIDER_ERROR, message=not_resent_message(why))


def _failure(exc: ProviderError) -> Failure:
    """Why the task failed for good, for the member (and the operator's log)."""
    kind = _failure_kind(exc)
    return Failure(
        kind=kind,
        message=exc.user_message,
        provider_code=exc.code,
        # The operator's key and account are no business of the channel's.
        provider_reason=None if kind is FailureKind.PROVIDER_CONFIG else exc.reason,
    )


def _failure_kind(exc: ProviderError) -> FailureKind:
    if isinstance(exc, ProviderAuthError | ProviderQuotaError):
        # The operator must act; the user only hears that an operator was told.
        problem = (
            "API key was refused"
            if isinstance(exc, ProviderAuthError)
            else "account is out of credit or quota"
        )
        log.error(
            "The video service says the bot's %s (HTTP %s, code %s): %s. "
            "Check SORA_API_KEY and the provider account.",
            problem,
            getattr(exc, "status_code", None),
            getattr(exc, "code", None),
            exc.reason or "no reason given",
        )
        return FailureKind.PROVIDER_CONFIG
    if isinstance(exc, ProviderModerated):
        return exc.stage
    if isinstance(exc, ProviderRejected):
        return FailureKind.INVALID_INPUT
    return FailureKind.PROVIDER_ERROR
