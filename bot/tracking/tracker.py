"""The tracker's front: what the runtime, service and queue call.

It owns the scheduler, the timing and the steps, and decides only which tasks
are carried: those resumed at start, those handed over, not those forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from bot.chats import ChatRouter
from bot.governance import NoRefunds, Refunds
from bot.metrics import Metrics
from bot.models import Task
from bot.ports import TaskStore
from bot.providers.pool import ProviderPool
from bot.tracking.images import PrepareImage, upload_as_is
from bot.tracking.scheduler import Scheduler, Slot
from bot.tracking.steps import OnFinished, Steps, new_slot
from bot.tracking.timing import Timing

log = logging.getLogger(__name__)


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
        self._clock = clock
        self._timing = Timing(poll_interval, clock)
        self._scheduler = Scheduler(
            self._step, self._on_error, concurrency=concurrency, clock=clock
        )
        metrics = metrics or Metrics()
        self._steps = Steps(
            store,
            pool,
            self._scheduler,
            self._timing,
            chats=chats,
            media_dir=media_dir,
            public_url=public_url,
            prepare_image=prepare_image,
            create_timeout=create_timeout,
            refunds=refunds or NoRefunds(),
            clock=clock,
            metrics=metrics,
            on_finished=on_finished,
        )
        metrics.watch_tracker(lambda: self.tracked, self._scheduler.waiting)

    @property
    def poll_interval(self) -> float:
        """Seconds between status queries of one task."""
        return self._timing.poll_interval

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
            slot = new_slot(task, self._clock())
            if slot.provider_task_id is not None and task.state.in_flight:
                # Resumed after a restart: spread the first polls over one period.
                self._timing.next_poll(slot, earliest=0.0)
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

    # The scheduler is made before the steps that need it, so it calls them here.

    async def _step(self, slot: Slot) -> None:
        await self._steps.run(slot)

    def _on_error(self, slot: Slot, exc: Exception) -> None:
        self._steps.on_error(slot, exc)
