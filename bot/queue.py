"""The bot's own line: requests over a running limit wait here instead of being
refused, and start by themselves, in order, when a slot frees.

A member may run ``USER_CONCURRENCY_LIMIT`` videos at once (moderators change it
per server) and a server ``SERVER_CONCURRENCY_LIMIT`` (unset: no limit). Past
either, a request is stored as ``queued``: its status message is posted (with
its place in line and a Cancel button) but nothing is sent to the provider and
nothing is counted. Each member's line is first in, first out; when the server's
limit is what holds requests back, members take turns (everyone's first waiting
request before anyone's second), so one member's five cannot hold up the rest.

The line lives in the database, so it survives a restart: ``start`` fills every
free slot again. Admission and promotion share one lock, so two quick requests
cannot both slip under a limit; across replicas sharing a PostgreSQL database,
the database's lock for that server (``TaskStore.exclusive``) does the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.chats import ChatRouter
from bot.config import Settings
from bot.errors import StaleTask, UserInputError
from bot.models import (
    ChatRef,
    Failure,
    FailureKind,
    Platform,
    Task,
    TaskState,
    utcnow,
)
from bot.ports import Scope, TaskStore
from bot.rendering import queue_full_text
from bot.tracking import Tracker

log = logging.getLogger(__name__)

USER_LIMIT = "user_limit"

Reserve = Callable[[Task], Awaitable[None]]


async def _count_nothing(task: Task) -> None:
    """No quotas: nothing to reserve (or give back)."""


def fair_order(
    queued: Sequence[Task], served: Mapping[str, int] | None = None
) -> list[Task]:
    """The server's line in starting order: each member's requests in the order
    asked, members taking turns (round robin); ``served`` counts the turns each
    member has had already, so one who just had several waits for the others."""
    rounds: dict[str, int] = defaultdict(int, served or {})
    keyed = []
    for index, task in enumerate(queued):
        user = task.request.requester.user_id
        keyed.append((rounds[user], index, task))
        rounds[user] += 1
    return [task for _, _, task in sorted(keyed, key=lambda k: (k[0], k[1]))]


class TaskQueue:
    """Admits new tasks as running or waiting, and starts waiting ones.

    Args:
        store: the tasks, including the waiting ones, and the per-server limit.
        tracker: carries a task once it starts.
        chats: shows each waiting task's place as the line moves.
        settings: the default running limits and the length of a member's line.
        reserve: counts a task against the quotas and budgets when it starts (not
            while it waits), or raises ``UserInputError`` with the sentence.
        refund: gives back what ``reserve`` counted, for a task that was
            cancelled while it was being started.
    """

    def __init__(
        self,
        store: TaskStore,
        tracker: Tracker,
        chats: ChatRouter,
        settings: Settings,
        reserve: Reserve = _count_nothing,
        refund: Reserve = _count_nothing,
    ) -> None:
        self._store = store
        self._tracker = tracker
        self._chats = chats
        self._settings = settings
        self._reserve = reserve
        self._refund = refund
        self._lock = asyncio.Lock()
        # Per server, turns each waiting member has had since the line formed;
        # forgotten once nobody waits (and on restart: fairness is approximate).
        self._served: dict[tuple[Platform, str], dict[str, int]] = {}

    @asynccontextmanager
    async def _line(self, platform: Platform, workspace_id: str) -> AsyncIterator[None]:
        """One server's line, decided by one process at a time: this process's
        lock first (cheap, and it keeps the database lock's connection free),
        then the database's, which the other replicas wait on."""
        async with (
            self._lock,
            self._store.exclusive(f"queue:{platform.value}:{workspace_id}"),
        ):
            yield

    def _turns(
        self, platform: Platform, workspace_id: str, queued: Sequence[Task]
    ) -> dict[str, int]:
        """The turns of every member waiting now; a newcomer starts level with
        the one who has had fewest, so nobody is owed a burst of catching up."""
        served = self._served.setdefault((platform, workspace_id), {})
        waiting = {t.request.requester.user_id for t in queued}
        floor = min((served[u] for u in waiting if u in served), default=0)
        for user in waiting:
            served.setdefault(user, floor)
        return served

    @property
    def server_limit(self) -> int | None:
        return self._settings.server_concurrency_limit

    @property
    def queue_limit(self) -> int:
        return self._settings.user_queue_limit

    async def user_limit(self, platform: Platform, workspace_id: str) -> int:
        """Running videos per member here: the moderators' setting, else the
        operator's ``USER_CONCURRENCY_LIMIT``."""
        scope = Scope(platform=platform, workspace_id=workspace_id)
        value = await self._store.get_setting(scope, USER_LIMIT)
        return self._settings.user_concurrency_limit if value is None else int(value)

    async def admit(self, task: Task) -> Task:
        """Store ``task`` as starting now (``received``, counted against the
        quotas) or waiting (``queued``, counted when it starts).

        Raises ``UserInputError`` (nothing stored) when the member's line is full
        or a quota refuses.
        """
        chat = task.request.chat
        user = task.request.requester.user_id
        async with self._line(chat.platform, chat.workspace_id):
            running, everyone = await self._store.running_for(
                chat.platform, chat.workspace_id, user
            )
            # All _position needs: whether this member has a running slot free.
            counts = {user: running}
            limit = await self.user_limit(chat.platform, chat.workspace_id)
            queued = await self._store.queued(chat.platform, chat.workspace_id)
            mine = [t for t in queued if t.request.requester.user_id == user]
            server_full = (
                self.server_limit is not None and everyone >= self.server_limit
            )
            if running < limit and not mine and not server_full:
                task.state = TaskState.RECEIVED
            elif len(mine) >= self.queue_limit:
                raise UserInputError(
                    queue_full_text(running, len(mine), self.queue_limit)
                )
            else:
                task.state = TaskState.QUEUED
            if task.state is TaskState.RECEIVED:
                await self._reserve(task)
            # Leased to this replica at once: its status message is posted
            # next, and no other replica may start the task meanwhile.
            await self._store.add(
                task,
                holder=self._tracker.holder,
                seconds=self._tracker.lease_time,
            )
            if task.state is TaskState.QUEUED:
                task.queue_position = self._position(
                    task, [*queued, task], counts, limit
                )
        return task

    async def posted(self, task: Task, chat: ChatRef) -> Task:
        """Keep where ``task``'s status message went, without undoing a start
        that happened while it was being posted; returns the task as stored."""
        if task.state is not TaskState.QUEUED:
            # Nothing else moves a task that is not tracked yet and has no
            # buttons yet: no read needed.
            task.chat = chat
            await self._store.save(task)
            return task
        line = task.request.chat
        async with self._line(line.platform, line.workspace_id):
            stored = await self._store.get(task.id)
            stored.chat = chat
            stored.queue_position = task.queue_position
            await self._store.save(stored)
        return stored

    async def position(self, task: Task) -> int | None:
        """``task``'s place in line now (1 = next), or None if it is not waiting."""
        chat = task.request.chat
        queued = await self._store.queued(chat.platform, chat.workspace_id)
        counts = await self._store.running_counts(chat.platform, chat.workspace_id)
        limit = await self.user_limit(chat.platform, chat.workspace_id)
        return self._position(task, queued, counts, limit)

    def _position(
        self, task: Task, queued: Sequence[Task], counts: dict[str, int], limit: int
    ) -> int | None:
        """The member's own line, unless the server's limit is what holds it back:
        then the server's (fair) line."""
        user = task.request.requester.user_id
        member_free = counts.get(user, 0) < limit
        if member_free and self.server_limit is not None:
            chat = task.request.chat
            line = fair_order(
                queued, self._turns(chat.platform, chat.workspace_id, queued)
            )
        else:
            line = [t for t in queued if t.request.requester.user_id == user]
        ids = [t.id for t in line]
        return ids.index(task.id) + 1 if task.id in ids else None

    async def start(self) -> None:
        """After a restart: fill every slot that is free, in every server."""
        for platform, workspace_id in await self._store.queued_workspaces():
            await self.advance(platform, workspace_id)

    async def advance(self, platform: Platform, workspace_id: str) -> None:
        """Start as many waiting tasks as the limits allow, then show the others
        their new place. Call whenever a slot may have freed."""
        async with self._line(platform, workspace_id):
            queued = await self._store.queued(platform, workspace_id)
            if not queued:
                return
            counts = await self._store.running_counts(platform, workspace_id)
            limit = await self.user_limit(platform, workspace_id)
            served = self._turns(platform, workspace_id, queued)
            started, moved = await self._start_free(queued, counts, limit, served)
            if len(started) + len(moved) == len(queued):
                del self._served[(platform, workspace_id)]
        for task in started:
            log.info("task %s leaves the queue (%s)", task.id, task.state.value)
            # A refused one (FAILED) is delivered as such: the member is told why.
            self._tracker.track(task)
            await self._chats.show(task)
        waiting = [t for t in queued if t not in started and t not in moved]
        for task in waiting:
            task.queue_position = self._position(task, waiting, counts, limit)
            await self._chats.show(task)

    async def _start_free(
        self,
        queued: Sequence[Task],
        counts: dict[str, int],
        limit: int,
        served: dict[str, int],
    ) -> tuple[list[Task], list[Task]]:
        """Start what the limits allow; returns those started (or refused by a
        quota) and those that left the line elsewhere meanwhile (cancelled)."""
        started: list[Task] = []
        moved: list[Task] = []
        running = sum(counts.values())
        for task in fair_order(queued, served):
            if self.server_limit is not None and running >= self.server_limit:
                break
            user = task.request.requester.user_id
            if counts.get(user, 0) >= limit:
                continue
            now = utcnow()
            task.updated_at = now
            started.append(task)
            try:
                await self._reserve(task)
            except UserInputError as refused:
                # Over a quota by now: the turn passes on, the member hears why.
                task.state = TaskState.FAILED
                task.failure = Failure(
                    kind=FailureKind.INVALID_INPUT, message=refused.user_message
                )
                await self._store.save(task)
                continue
            task.state = TaskState.RECEIVED
            # The deadline bounds the provider's work, so it starts now.
            task.deadline_at = now + timedelta(seconds=self._settings.task_deadline)
            try:
                await self._store.save(task, was=TaskState.QUEUED)
            except StaleTask:
                # Cancelled meanwhile (cancels do not wait for the line), maybe
                # before the reservation above: that is given back here.
                await self._refund(task)
                started.remove(task)
                moved.append(task)
                continue
            counts[user] = counts.get(user, 0) + 1
            served[user] += 1
            running += 1
        return started, moved
