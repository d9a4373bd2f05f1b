"""The tracker's front: what the runtime, service and queue call.

It owns the scheduler, the timing, the steps and the lease keeper, and decides
only which tasks are carried: those this replica holds the lease of (resumed at
start, taken over from a replica that died, or new from this one's service and
queue), not those forgotten or lost to another replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from bot.chats import ChatRouter
from bot.errors import StaleTask
from bot.governance import NoRefunds, Refunds
from bot.metrics import Metrics
from bot.models import Task
from bot.ports import TaskStore
from bot.providers.pool import ProviderPool
from bot.replicas import Replicas, replica_id
from bot.storage.notices import POKE_TOPIC, TASK_TOPIC
from bot.tracking.images import PrepareImage, upload_as_is
from bot.tracking.leases import LeaseKeeper, round_interval
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
        replicas: this replica's id among those sharing the database (its
            leases name it), and their live count, which the keeper refreshes.
        lease_time: seconds a lease lasts unless renewed (``LEASE_TIME``).
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
        replicas: Replicas | None = None,
        lease_time: float = 30.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._chats = chats
        self.replicas = replicas or Replicas(replica_id())
        self._background: set[asyncio.Task[None]] = set()
        self._timing = Timing(poll_interval, clock)
        self._scheduler = Scheduler(
            self._step, self._on_error, concurrency=concurrency, clock=clock
        )
        metrics = metrics or Metrics()
        self._leases = LeaseKeeper(
            store,
            self.replicas,
            lease_time=lease_time,
            interval=round_interval(poll_interval, lease_time),
            platforms=lambda: chats.platforms,
            carried=self._carried,
            adopt=self._adopt,
            lost=self.forget,
            taken_over=metrics.tasks_taken_over.inc,
        )
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
            holder=self.replicas.id,
            take=self._leases.take,
        )
        store.notices.subscribe(POKE_TOPIC, self._scheduler.run_now)
        store.notices.subscribe(TASK_TOPIC, self._changed_elsewhere)
        metrics.watch_tracker(
            lambda: self.tracked,
            self._scheduler.waiting,
            lambda: self.replicas.count,
        )

    @property
    def poll_interval(self) -> float:
        """Seconds between status queries of one task."""
        return self._timing.poll_interval

    @property
    def holder(self) -> str:
        """This replica's id on the leases it holds."""
        return self.replicas.id

    @property
    def lease_time(self) -> float:
        """Seconds a lease lasts unless renewed."""
        return self._leases.lease_time

    @property
    def tracked(self) -> int:
        """How many tasks the tracker is carrying right now."""
        return len(self._scheduler)

    async def start(self) -> None:
        """Lease every task nobody carries (all unfinished ones, for a lone
        replica), then start the scheduler, its workers and the lease keeper."""
        taken = await self._leases.start()
        log.info(
            "tracker started as replica %s with %d unfinished task(s)",
            self.replicas.id,
            taken,
        )
        self._scheduler.start()

    def track(self, task: Task) -> None:
        """Carry ``task`` on from its current state, starting now; its first step
        takes the lease (a task another replica carries is left to it)."""
        self._carry(task, leased=False)

    def poke(self, task_id: str) -> None:
        """Query ``task_id`` now (a callback hinted at news), wherever it is
        carried; ignores unknown ids."""
        if task_id in self._scheduler:
            self._scheduler.run_now(task_id)
        else:
            self._publish(POKE_TOPIC, task_id)

    def forget(self, task_id: str) -> None:
        """Stop carrying ``task_id`` (cancelled); a step under way saves no more."""
        self._scheduler.remove(task_id)

    async def changed(self, task_id: str) -> None:
        """``task_id`` was changed outside the tracker (a cancel): the replica
        carrying it, wherever it is, re-reads it at once."""
        await self._store.notices.publish(TASK_TOPIC, task_id)

    async def aclose(self, grace: float = 3.0) -> None:
        """Stop: let steps under way finish for up to ``grace`` s, then cancel them.

        Every step persists before moving on, so whatever is cut short is redone by
        the next ``start``; nothing already saved is lost.
        """
        await self._scheduler.aclose(grace)
        await self._leases.aclose()
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # The scheduler is made before the steps that need it, so it calls them here.

    async def _step(self, slot: Slot) -> None:
        if not slot.leased:
            if not await self._leases.take(slot.id):
                log.info("task %s is carried by another replica", slot.id)
                self.forget(slot.id)
                return
            slot.leased = True
        await self._steps.run(slot)

    def _on_error(self, slot: Slot, exc: Exception) -> None:
        if isinstance(exc, StaleTask):
            # Lost to another replica, or moved on by a cancel: follow the store.
            log.info("task %s changed elsewhere; re-reading it", slot.id)
            self.forget(slot.id)
            self._spawn(self._reclaim(slot.id))
            return
        self._steps.on_error(slot, exc)

    # -- leases ------------------------------------------------------------------------

    def _carry(self, task: Task, *, leased: bool) -> None:
        if task.id in self._scheduler:
            return
        if task.state.tracked:
            slot = new_slot(task, self._clock())
            slot.leased = leased
            if slot.provider_task_id is not None and task.state.in_flight:
                # Resumed after a restart or taken over: spread the first polls
                # over one period.
                self._timing.next_poll(slot, earliest=0.0)
            self._scheduler.add(slot)

    def _adopt(self, task: Task) -> None:
        self._carry(task, leased=True)

    def _carried(self) -> list[str]:
        """Tasks this replica leases and still means to move on; one just
        delivered is no longer renewed, and is not lost for that."""
        return [
            slot.id
            for slot in self._scheduler.slots()
            if slot.leased and slot.state.tracked
        ]

    def _changed_elsewhere(self, task_id: str) -> None:
        if task_id in self._scheduler:
            self.forget(task_id)
            self._spawn(self._reclaim(task_id))

    async def _reclaim(self, task_id: str) -> None:
        """Carry ``task_id`` again if it is still to be moved on and nobody else
        has it."""
        try:
            if not await self._leases.take(task_id):
                return
            self._adopt(await self._store.get(task_id))
        except Exception:
            # The lease keeper's next round finds it if it is still ours.
            log.warning("task %s: could not re-read it", task_id, exc_info=True)

    def _publish(self, topic: str, payload: str) -> None:
        self._spawn(self._store.notices.publish(topic, payload))

    def _spawn(self, job: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
