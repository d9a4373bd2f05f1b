"""One heap of due times and a fixed pool of workers for every tracked task.

A loop per task would cost a coroutine, its frame and a timer each; 10,000 tasks
would mean 10,000 of them waking at random. Here each task is a ``Slot`` of a few
fields, the heap orders them by due time, one loop moves due slots to a queue and
``concurrency`` workers run their steps. The pool size is the bound on concurrent
provider calls, so no semaphore is needed.

Slow steps (a download, saves and chat posts) have their own quarter of the
workers. When thousands of tasks finish together, they queue there while status
queries keep their pace, so every finished task is still noticed in time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping

from bot.models import Task, TaskStatus

log = logging.getLogger(__name__)

TICK = 0.02  # seconds; the most a step starts late


class Slot:
    """What is kept per task between steps: ids, due time and a few counters."""

    __slots__ = (
        "busy",
        "claimed",
        "deadline",
        "due",
        "errors",
        "finished",
        "finished_at",
        "id",
        "leased",
        "log",
        "percent",
        "poked",
        "provider",
        "provider_task_id",
        "state",
        "submit_since",
        "view",
    )

    def __init__(self, task: Task, due: float, view: str) -> None:
        self.id = task.id
        self.state = task.state
        self.provider = task.provider
        self.provider_task_id = task.provider_task_id
        self.percent = task.progress.percent
        self.deadline = (
            math.inf if task.deadline_at is None else task.deadline_at.timestamp()
        )
        self.errors = 0  # consecutive failed attempts, for back-off
        self.due = due
        self.busy = False  # queued or running a step
        self.poked = False  # asked to run again as soon as the step ends
        # Whether this replica holds the task's lease (a new task is taken in its
        # first step), and has claimed posting its outcome (``deliver:<id>``).
        self.leased = False
        self.claimed = False
        self.finished: TaskStatus | None = None  # said done; video not fetched yet
        self.finished_at: float | None = None  # when the provider first said so
        # The task's fields for every log line its steps write (bot.logs).
        self.log: Mapping[str, str] = {}
        # When the first create of this task was tried: every provider together
        # gets SORA_CREATE_TIMEOUT from then to take it.
        self.submit_since: float | None = None
        # The task as last shown, as JSON: progress edits need no database read,
        # and one string per task is light on memory and the garbage collector.
        self.view = view

    @property
    def slow(self) -> bool:
        """Whether the next step fetches or delivers the outcome."""
        return self.finished is not None or self.state.awaiting_delivery


Step = Callable[[Slot], Awaitable[None]]
OnError = Callable[[Slot, Exception], None]


class Scheduler:
    """Runs ``step(slot)`` for each slot when it falls due, ``concurrency`` at once.

    A step sets ``slot.due`` for its next run or calls ``remove``. If it raises,
    ``on_error`` decides (it should set a later ``due``).
    """

    def __init__(
        self,
        step: Step,
        on_error: OnError,
        *,
        concurrency: int,
        clock: Callable[[], float],
    ) -> None:
        self._step = step
        self._on_error = on_error
        self._concurrency = concurrency
        self._clock = clock
        self._slots: dict[str, Slot] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._ready: asyncio.Queue[Slot | None] = asyncio.Queue()
        self._slow: asyncio.Queue[Slot | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._runners: list[asyncio.Task[None]] = []
        self._lanes: list[asyncio.Queue[Slot | None]] = []

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._slots

    def waiting(self, slow: bool) -> int:
        """Steps due and queued for a worker, in the slow lane or the other."""
        return (self._slow if slow else self._ready).qsize()

    def slots(self) -> list[Slot]:
        """Every slot carried now."""
        return list(self._slots.values())

    def current(self, slot: Slot) -> bool:
        """Whether ``slot`` is still scheduled (not removed or replaced)."""
        return self._slots.get(slot.id) is slot

    def add(self, slot: Slot) -> None:
        self._slots[slot.id] = slot
        self._push(slot)

    def remove(self, task_id: str) -> None:
        self._slots.pop(task_id, None)

    def run_now(self, task_id: str) -> None:
        """Make the slot due now, or straight after the step it is in."""
        slot = self._slots.get(task_id)
        if slot is None:
            return
        if slot.busy:
            slot.poked = True
        else:
            slot.due = self._clock()
            self._push(slot)

    def start(self) -> None:
        self._runners.append(asyncio.create_task(self._schedule(), name="scheduler"))
        slow = max(1, self._concurrency // 4)
        lanes = [self._slow] * slow + [self._ready] * max(1, self._concurrency - slow)
        self._runners.extend(
            asyncio.create_task(self._work(lane), name=f"scheduler-worker-{n}")
            for n, lane in enumerate(lanes)
        )
        self._lanes = lanes

    async def aclose(self, grace: float) -> None:
        """Start nothing new; give running steps ``grace`` seconds, then cancel."""
        if not self._runners:
            return
        scheduler, workers = self._runners[0], self._runners[1:]
        scheduler.cancel()
        for queue in (self._ready, self._slow):
            while not queue.empty():
                queue.get_nowait()
        for lane in self._lanes:
            lane.put_nowait(None)
        _, late = await asyncio.wait(workers, timeout=grace)
        for runner in late:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        self._runners.clear()

    def _push(self, slot: Slot) -> None:
        heapq.heappush(self._heap, (slot.due, next(self._seq), slot.id))
        if self._heap[0][2] == slot.id:
            self._wake.set()

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                now = self._clock()
                while self._heap and self._heap[0][0] <= now:
                    due, _, task_id = heapq.heappop(self._heap)
                    slot = self._slots.get(task_id)
                    # Entries left behind by a reschedule or removal are skipped.
                    if slot is None or slot.busy or slot.due != due:
                        continue
                    slot.busy = True
                    (self._slow if slot.slow else self._ready).put_nowait(slot)
                self._wake.clear()
                if self._heap:
                    # At most one wake-up per tick: 10,000 tasks polled every 10 s
                    # fall due 1,000 times a second, and each wake-up costs a
                    # timer, a future and a loop turn. ``run_now`` still wakes
                    # at once.
                    delay = max(self._heap[0][0] - now, TICK)
                    timer = loop.call_later(delay, self._wake.set)
                await self._wake.wait()
                if timer is not None:
                    timer.cancel()
        finally:
            if timer is not None:
                timer.cancel()

    async def _work(self, lane: asyncio.Queue[Slot | None]) -> None:
        while (slot := await lane.get()) is not None:
            try:
                await self._step(slot)
            except Exception as exc:
                self._on_error(slot, exc)
            finally:
                slot.busy = False
                if self.current(slot):
                    if slot.poked:
                        slot.poked = False
                        slot.due = self._clock()
                    self._push(slot)
