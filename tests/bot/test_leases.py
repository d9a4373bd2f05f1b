"""Leases: which replica carries which task, on both backends.

Two stores on one database stand for two replicas (two processes on PostgreSQL;
two connections to one file on SQLite). Leases are short here (a fraction of a
second) so that one running out takes a small sleep, not a long wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import pytest

from bot.errors import StaleTask, TaskNotFound
from bot.models import Platform, Progress, Task, TaskState, utcnow
from bot.ports import TaskStore
from bot.storage import postgres, sqlite
from tests.backends import Backend
from tests.fakes.tasks import make_request, make_task

EVERY_PLATFORM = tuple(Platform)
SHORT = 0.2  # seconds: a lease meant to run out during the test
LONG = 60.0  # seconds: a lease meant to outlast it
RUN_OUT = SHORT + 0.1


async def added(
    store: TaskStore, state: TaskState = TaskState.RUNNING, **fields: Any
) -> Task:
    task = make_task(state=state, **fields)
    await store.add(task)
    return task


async def lease_ids(
    store: TaskStore,
    holder: str,
    *,
    platforms: Collection[Platform] = EVERY_PLATFORM,
    seconds: float = LONG,
    limit: int = 100,
) -> list[str]:
    leased = await store.lease(
        holder, platforms=platforms, seconds=seconds, limit=limit
    )
    return [task.id for task in leased]


# -- lease ---------------------------------------------------------------------------


async def test_lease_returns_whole_tracked_tasks_oldest_first(
    store: TaskStore,
) -> None:
    tracked = []
    # Each added one older than the last, so the order comes from the times.
    for age, state in enumerate(TaskState):
        task = make_task(
            state=state,
            progress=Progress(percent=30),
            created_at=utcnow() - timedelta(minutes=age),
        )
        await store.add(task)
        if state.in_flight or state.awaiting_delivery:
            tracked.append(task)

    leased = await store.lease(
        "a", platforms=EVERY_PLATFORM, seconds=LONG, limit=len(TaskState)
    )

    # queued waits in the bot's line; cancelled and delivered are done.
    assert leased == tracked[::-1]


async def test_lease_takes_at_most_limit_and_leaves_the_rest(store: TaskStore) -> None:
    tasks = [await added(store) for _ in range(3)]

    first = await lease_ids(store, "a", limit=2)
    rest = await lease_ids(store, "b", limit=2)

    assert (first, rest) == ([t.id for t in tasks[:2]], [tasks[2].id])


async def test_lease_takes_only_the_platforms_asked_for(store: TaskStore) -> None:
    slack = await added(store, request=make_request(platform=Platform.SLACK))
    discord = await added(store, request=make_request(platform=Platform.DISCORD))

    none = await lease_ids(store, "a", platforms=())
    on_slack = await lease_ids(store, "a", platforms={Platform.SLACK})
    on_discord = await lease_ids(store, "b", platforms=[Platform.DISCORD, Platform.CLI])

    assert (none, on_slack, on_discord) == ([], [slack.id], [discord.id])


async def test_replicas_racing_for_tasks_lease_different_ones(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        tasks = {(await added(one)).id for _ in range(8)}
        for _ in range(3):  # a few rounds, so the two statements do overlap
            await one.release("a")
            await two.release("b")
            a, b = await asyncio.gather(
                lease_ids(one, "a", limit=5), lease_ids(two, "b", limit=5)
            )

            assert not set(a) & set(b)
            assert set(a) | set(b) == tasks


async def test_a_lease_that_ran_out_is_taken_over_by_another_replica(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        task = await added(one)
        mine = await lease_ids(one, "a", seconds=SHORT)
        while_live = await lease_ids(two, "b")
        await asyncio.sleep(RUN_OUT)
        taken = await lease_ids(two, "b")
        still_mine = await one.renew("a", LONG)

    assert (mine, while_live, taken, still_mine) == ([task.id], [], [task.id], set())


# -- renew and release ---------------------------------------------------------------


async def test_renew_returns_only_the_tasks_still_held_and_tracked(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        kept, finished, taken = [await added(one) for _ in range(3)]
        await lease_ids(one, "a", seconds=SHORT)
        finished.state = TaskState.DELIVERED
        await one.save(finished, holder="a")
        await asyncio.sleep(RUN_OUT)
        took = await two.take(taken.id, "b", LONG)

        # Run out but still naming "a": nobody took it, so "a" carries on.
        renewed = await one.renew("a", LONG)
        after_renewal = await lease_ids(two, "b")

    assert took
    assert (renewed, after_renewal) == ({kept.id}, [])


async def test_released_tasks_are_leased_by_another_replica_at_once(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        task = await added(one)
        await lease_ids(one, "a")
        before = await lease_ids(two, "b")
        await one.release("a")
        after = await lease_ids(two, "b")
        renewed = await one.renew("a", LONG)

    assert (before, after, renewed) == ([], [task.id], set())


# -- take ----------------------------------------------------------------------------


async def test_take_leases_a_new_task_to_its_replica(backend: Backend) -> None:
    async with backend.open() as one, backend.open() as two:
        task = make_task()  # received, as the service adds it
        await one.add(task)

        took = await one.take(task.id, "a", LONG)
        again = await one.take(task.id, "a", LONG)
        other = await two.take(task.id, "b", LONG)
        leased_by_other = await lease_ids(two, "b")

    assert (took, again, other, leased_by_other) == (True, True, False, [])


async def test_a_task_added_with_a_holder_is_leased_to_it_in_the_same_statement(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        task = make_task()  # received: it starts at once
        await one.add(task, holder="a", seconds=LONG)

        leased_by_other = await lease_ids(two, "b")
        other_took = await two.take(task.id, "b", LONG)
        mine = await one.take(task.id, "a", LONG)

    assert (leased_by_other, other_took, mine) == ([], False, True)


async def test_a_queued_task_added_with_a_holder_is_leased_to_nobody(
    store: TaskStore,
) -> None:
    task = make_task(state=TaskState.QUEUED)
    await store.add(task, holder="a", seconds=LONG)

    # Whoever starts it from the line leases it then.
    assert await store.holders() == set()


async def test_take_refuses_a_task_no_longer_tracked(store: TaskStore) -> None:
    delivered = await added(store, state=TaskState.DELIVERED)
    queued = await added(store, state=TaskState.QUEUED)

    assert not await store.take(delivered.id, "a", LONG)
    assert not await store.take(queued.id, "a", LONG)
    assert not await store.take("nope", "a", LONG)


async def test_take_gets_a_task_whose_lease_ran_out(store: TaskStore) -> None:
    task = await added(store)
    await store.take(task.id, "a", SHORT)
    await asyncio.sleep(RUN_OUT)

    assert await store.take(task.id, "b", LONG)
    assert await store.renew("a", LONG) == set()


# -- fenced saves --------------------------------------------------------------------


async def test_replica_that_lost_its_lease_cannot_save(backend: Backend) -> None:
    async with backend.open() as one, backend.open() as two:
        task = await added(one)
        before = task.model_copy(deep=True)
        await lease_ids(one, "a", seconds=SHORT)
        await asyncio.sleep(RUN_OUT)
        await lease_ids(two, "b")

        late = task.model_copy(deep=True)
        late.state = TaskState.FAILED
        late.progress = Progress(percent=99)
        with pytest.raises(StaleTask):
            await one.save(late, holder="a", was=TaskState.RUNNING)
        unchanged = await two.get(task.id)

        task.progress = Progress(percent=50)
        await two.save(task, holder="b", was=TaskState.RUNNING)
        saved = await one.get(task.id)

    assert unchanged == before
    assert saved == task


async def test_save_from_a_state_that_moved_on_raises_stale_task(
    store: TaskStore,
) -> None:
    task = await added(store)
    await store.take(task.id, "a", LONG)
    cancelled = task.model_copy(update={"state": TaskState.CANCELLED})
    await store.save(cancelled)

    task.state = TaskState.SUCCEEDED
    with pytest.raises(StaleTask):
        await store.save(task, holder="a", was=TaskState.RUNNING)
    with pytest.raises(StaleTask):
        await store.save(task, was=TaskState.RUNNING)

    assert (await store.get(task.id)).state is TaskState.CANCELLED


async def test_save_by_a_replica_that_never_held_the_task_raises_stale_task(
    store: TaskStore,
) -> None:
    task = await added(store)  # nobody's

    with pytest.raises(StaleTask):
        await store.save(task, holder="a")


async def test_conditional_save_of_an_unknown_task_raises_task_not_found(
    store: TaskStore,
) -> None:
    with pytest.raises(TaskNotFound):
        await store.save(make_task(id="nope"), holder="a", was=TaskState.RUNNING)


# -- heartbeats ----------------------------------------------------------------------


async def test_heartbeat_counts_live_replicas_and_forgets_silent_ones(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        alone = await one.heartbeat("a", SHORT)
        both = await two.heartbeat("b", SHORT)
        again = await one.heartbeat("a", SHORT)
        await asyncio.sleep(RUN_OUT)
        after_silence = await two.heartbeat("b", SHORT)

    remembered = await backend.fetch("SELECT holder FROM replicas")
    assert (alone, both, again, after_silence) == (1, 2, 2, 1)
    assert remembered == [("b",)]


# -- exclusive -----------------------------------------------------------------------


async def test_a_released_replica_is_no_longer_counted_alive(store: TaskStore) -> None:
    await store.heartbeat("a", LONG)
    await store.heartbeat("b", LONG)
    await store.release("a")

    assert await store.heartbeat("b", LONG) == 1


async def test_exclusive_admits_one_holder_of_a_name_at_a_time(
    store: TaskStore,
) -> None:
    inside: list[str] = []

    async def hold(who: str) -> None:
        async with store.exclusive("line:slack:T1"):
            inside.append(f"{who} in")
            await asyncio.sleep(0.05)
            inside.append(f"{who} out")

    await asyncio.gather(hold("a"), hold("b"))

    assert inside in (
        ["a in", "a out", "b in", "b out"],
        ["b in", "b out", "a in", "a out"],
    )


async def test_exclusive_holds_other_names_apart(store: TaskStore) -> None:
    async with store.exclusive("line:slack:T1"):
        assert await held_apart(store, "line:slack:T2")


async def test_exclusive_on_postgres_excludes_another_replica_until_released(
    postgres_backend: Backend,
) -> None:
    async with postgres_backend.open() as one, postgres_backend.open() as two:
        async with one.exclusive("line"):
            blocked = await held_apart(two, "line")
        free = await held_apart(two, "line")

        with pytest.raises(RuntimeError):
            async with one.exclusive("line"):
                raise RuntimeError("a step failed")
        free_after_error = await held_apart(two, "line")

    assert (blocked, free, free_after_error) == (False, True, True)


async def test_a_replica_cancelled_while_waiting_for_exclusive_keeps_no_lock(
    postgres_backend: Backend,
) -> None:
    async with postgres_backend.open() as one, postgres_backend.open() as two:
        async with one.exclusive("line"):
            for _ in range(3):  # each on a connection of two's pool
                assert not await held_apart(two, "line")
            while_held = await exclusive_locks(postgres_backend)
        later = await held_apart(two, "line")
        after = await exclusive_locks(postgres_backend)

    # Only one's lock: no session of two's still waits for it, or holds it.
    assert (while_held, later, after) == ([(True,)], True, [])


async def exclusive_locks(backend: Backend) -> list[tuple[object, ...]]:
    """Whether each two-key advisory lock on this database is granted or waited
    for (only ``exclusive`` takes them here: no usage reservation runs)."""
    return await backend.fetch(
        "SELECT granted FROM pg_locks WHERE locktype = 'advisory' "
        "AND objsubid = 2 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )


async def held_apart(store: TaskStore, name: str) -> bool:
    """Whether ``store`` gets ``exclusive(name)`` within a moment (cancelled if not)."""
    try:
        async with asyncio.timeout(0.2), store.exclusive(name):
            return True
    except TimeoutError:
        return False


# -- migrations ----------------------------------------------------------------------

# The schema before leases, per backend.
BEFORE_LEASES = {"sqlite": sqlite.MIGRATIONS[:5], "postgres": postgres.MIGRATIONS[:1]}


async def test_a_task_in_flight_before_leases_is_leasable_after_the_migration(
    backend: Backend,
) -> None:
    async with backend.open(BEFORE_LEASES[backend.name]) as old:
        task = await added(old)

    async with backend.open() as store:
        version = await store.schema_version()
        leased = await store.lease(
            "a", platforms=EVERY_PLATFORM, seconds=LONG, limit=10
        )

    assert version == len(backend.migrations)
    assert leased == [task]
