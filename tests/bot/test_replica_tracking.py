"""The tracker across replicas: two runtimes, each with its own store on one
database (two connections to one SQLite file, two pools on one PostgreSQL
database), one simulator over HTTP, and recording chats.

Leases are short here, so a takeover after a death is a second's wait. A
replica "dies" by losing its database first and then stopping on the spot
(``kill``): it cannot release its leases, so they are left to run out, as a
killed process leaves them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest

from bot.models import FailureKind, Platform, Task, TaskState
from bot.runtime import Runtime
from bot.simulator import Simulator
from bot.storage.base import SqlTaskStore
from bot.tracking.policy import MAYBE_POSTED
from tests.backends import Backend
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_request, make_task, settled

LEASE_TIME = 0.6  # seconds
POLL_INTERVAL = 0.1  # seconds; also the lease keeper's round (under LEASE_TIME / 3)
# How long a takeover may take: the lease time and one round (the design's
# bound), with room for a busy machine.
TAKEOVER = LEASE_TIME + POLL_INTERVAL + 2.0
SIMULATED = 1.0  # seconds a simulated video takes

ANN = make_request().requester

Replica = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """Videos that outlast a takeover, so the replica taking over finishes them."""
    async with Simulator(duration=SIMULATED, allow_loopback_callbacks=True) as running:
        yield running


@pytest.fixture
def replica(
    make_runtime: Callable[..., Awaitable[Runtime]], backend: Backend
) -> Replica:
    """Starts a replica named ``name`` on the test's database; ``env`` overrides."""

    async def start(name: str, **env: Any) -> Runtime:
        values: dict[str, Any] = {
            "DATABASE_URL": backend.url,
            # Named, as an operator may: a generated id of this very process
            # would tell the other replica (same pid) that this one is gone.
            "REPLICA_ID": name,
            "LEASE_TIME": LEASE_TIME,
            "POLL_INTERVAL": POLL_INTERVAL,
        }
        values.update(env)
        return await make_runtime(**values)

    return start


async def kill(replica: Runtime) -> None:
    """``replica`` dies: its database connections go, then every step under way
    and its lease keeper stop where they are. It saves, posts and releases
    nothing more; its leases run out."""
    store = replica.store
    assert isinstance(store, SqlTaskStore)
    await store.close()
    await replica.tracker.aclose(grace=0)


def stall_renewals(replica: Runtime) -> None:
    """Hang ``replica``'s lease keeper (a stalled process, a lost network) from
    its next round on: its leases run out while its steps go on."""
    never: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()

    async def stalled(holder: str, seconds: float) -> set[str]:
        return await never

    replica.store.renew = stalled  # type: ignore[method-assign]


async def until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - the state is in the database
            await asyncio.sleep(0.02)


async def holders(backend: Backend, tasks: Iterable[Task]) -> set[str | None]:
    """Which replicas hold the leases of ``tasks``, from the database itself."""
    ids = {task.id for task in tasks}
    found = await backend.fetch("SELECT id, lease_holder FROM tasks")
    return {holder for task_id, holder in found if task_id in ids}


def chat_of(runtime: Runtime) -> RecordingChat:
    chat: RecordingChat = runtime.chat  # type: ignore[attr-defined]
    return chat


def posted(chats: Iterable[RecordingChat], task: Task) -> list[str]:
    """The outcomes posted for ``task`` by every replica: one, ever."""
    return [event.kind for chat in chats for event in chat.outcomes(task.id)]


def created(simulator: Simulator, task: Task) -> int:
    """How many creates the provider got for ``task`` (each prompt is unique)."""
    return sum(r.body["prompt"] == task.request.prompt for r in creates(simulator))


def submitted(chat: RecordingChat, task: Task) -> bool:
    """Whether the chat was shown ``task`` with the provider's id for it."""
    return any(e.task.provider_task_id for e in chat.of(task.id, "edit"))


# -- a replica stops ---------------------------------------------------------------


async def test_tasks_of_a_replica_that_stopped_renewing_are_taken_over_and_finished_once(  # noqa: E501
    replica: Replica, simulator: Simulator, backend: Backend
) -> None:
    a, b = await replica("a"), await replica("b")
    tasks = [await a.service.submit(make_request(f"video {n}")) for n in range(3)]
    await chat_of(a).wait_for(lambda: all(submitted(chat_of(a), t) for t in tasks))

    await kill(a)
    await until(lambda: _held_by(backend, tasks, "b"), within=TAKEOVER)
    finished = [await settled(b, task.id) for task in tasks]

    for task, stored in zip(tasks, finished, strict=True):
        assert stored.failure is None
        assert created(simulator, task) == 1
        assert posted([chat_of(a), chat_of(b)], task) == ["video"]
        assert chat_of(a).outcomes(task.id) == []


async def test_a_replica_that_stops_cleanly_hands_its_tasks_over_at_once(
    replica: Replica, simulator: Simulator, backend: Backend
) -> None:
    # Leases that outlast the test: only the release lets B have the tasks.
    a = await replica("a", LEASE_TIME=600)
    b = await replica("b", LEASE_TIME=600)
    tasks = [await a.service.submit(make_request(f"video {n}")) for n in range(2)]
    await chat_of(a).wait_for(lambda: all(submitted(chat_of(a), t) for t in tasks))

    await a.__aexit__(None, None, None)
    finished = [await settled(b, task.id) for task in tasks]

    for task, stored in zip(tasks, finished, strict=True):
        assert stored.failure is None
        assert created(simulator, task) == 1
        assert posted([chat_of(a), chat_of(b)], task) == ["video"]
    assert await holders(backend, tasks) == {"b"}


async def test_replica_that_lost_its_lease_while_stalled_cannot_save_and_lets_go(
    replica: Replica, backend: Backend
) -> None:
    async with (
        Simulator(duration=2 * SIMULATED) as relay,
        # The same relay reached by another route (its answers follow from the
        # task's id), whose first answer is slow: B holds the task for a while
        # without moving it on, so only the lease stands between A and a save.
        Simulator() as relay_of_b,
    ):
        relay_of_b.inject("slow", on="query", seconds=2 * SIMULATED + 0.5)
        a = await replica("a", SORA_API_URL=relay.base_url)
        stall_renewals(a)
        b = await replica("b", SORA_API_URL=relay_of_b.base_url)

        task = await a.service.submit(make_request())
        await until(lambda: _held_by(backend, [task], "b"), within=TAKEOVER)
        # A's next save, once the video is made, is refused: A lets it go.
        await until(lambda: _let_go(a), within=2 * SIMULATED + 2)
        after_a = await b.store.get(task.id)
        stored = await settled(b, task.id)

    assert after_a.state is TaskState.RUNNING
    assert stored.failure is None
    assert created(relay, task) == 1
    assert creates(relay_of_b) == []
    assert posted([chat_of(a), chat_of(b)], task) == ["video"]
    assert chat_of(a).outcomes(task.id) == []


async def test_a_create_answered_after_a_takeover_is_not_followed_up(
    replica: Replica, simulator: Simulator
) -> None:
    a = await replica("a")
    stall_renewals(a)
    b = await replica("b")
    # Answered only after B has taken the task over and told the member.
    simulator.inject("slow", on="create", seconds=TAKEOVER + 1.0)

    task = await a.service.submit(make_request())
    taken_over = await settled(b, task.id, within=TAKEOVER + 1.0)
    await until(lambda: _answered(simulator), within=5)
    await until(lambda: _let_go(a), within=5)
    stored = await b.store.get(task.id)

    # B does not send a create A may have sent; A's answer saves nothing.
    assert taken_over.failure is not None
    assert "did not send the request again" in taken_over.failure.message
    assert stored == taken_over
    assert stored.provider_task_id is None
    assert created(simulator, task) == 1
    assert posted([chat_of(a), chat_of(b)], task) == ["error"]
    assert chat_of(a).outcomes(task.id) == []


async def test_a_create_claimed_by_a_replica_that_died_is_not_sent_again(
    replica: Replica, simulator: Simulator
) -> None:
    a, b = await replica("a"), await replica("b")
    simulator.inject("hang", on="create")  # taken, never answered
    task = await a.service.submit(make_request())
    await until(lambda: _sent(simulator, task), within=5)

    await kill(a)
    stored = await settled(b, task.id, within=TAKEOVER + 1.0)

    assert stored.failure is not None
    assert stored.failure.kind is FailureKind.PROVIDER_ERROR
    assert "did not send the request again" in stored.failure.message
    assert created(simulator, task) == 1
    assert posted([chat_of(a), chat_of(b)], task) == ["error"]


async def test_a_delivery_claimed_by_a_replica_that_died_is_not_posted_again(
    replica: Replica, simulator: Simulator
) -> None:
    # A's upload lands; A dies before the chat answers.
    a = await replica("a", chat=RecordingChat(hang_after_post=True))
    b = await replica("b")
    task = await a.service.submit(make_request())
    await chat_of(a).wait_for(lambda: chat_of(a).outcomes(task.id))

    await kill(a)
    stored = await settled(b, task.id, within=TAKEOVER + 1.0)

    assert stored.failure is not None
    assert stored.failure.message == MAYBE_POSTED
    shown = chat_of(b).of(task.id, "edit")[-1].task
    assert (shown.state, shown.failure) == (TaskState.DELIVERED, stored.failure)
    assert posted([chat_of(a), chat_of(b)], task) == ["video"]
    assert created(simulator, task) == 1


# -- notices between replicas (PostgreSQL's LISTEN/NOTIFY) ---------------------------

LOCAL_NOTICES = (
    "SQLite's notices stay within one store (one process per file), so another "
    "replica's cannot reach this one's tracker"
)


async def test_a_callback_at_the_replica_not_carrying_the_task_makes_the_carrier_query(
    replica: Replica, simulator: Simulator, backend: Backend
) -> None:
    if backend.name == "sqlite":
        pytest.skip(LOCAL_NOTICES)
    port = _free_port()
    # The relay's callbacks all reach B (as a balancer may send them); polling is
    # so slow that A finishes the task only if told of them.
    common: dict[str, Any] = {
        "SORA_API_DIALECT": "v2",
        "POLL_INTERVAL": 60,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    a = await replica("a", **common)
    b = await replica("b", HTTP_PORT=port, **common)

    task = await a.service.submit(make_request())
    stored = await settled(a, task.id, within=SIMULATED + 5)

    assert stored.failure is None
    assert [c.url for c in simulator.callbacks_sent if c.status == 200] == [
        f"{b.base_url}/callbacks/{task.callback_token}"
    ]
    assert [e.kind for e in chat_of(a).outcomes(task.id)] == ["video"]
    assert chat_of(b).outcomes(task.id) == []
    assert b.tracker.tracked == 0


async def test_the_carrier_of_a_task_cancelled_on_another_replica_hears_of_it_at_once(
    replica: Replica, simulator: Simulator, backend: Backend
) -> None:
    if backend.name == "sqlite":
        pytest.skip(LOCAL_NOTICES)
    chat = RecordingChat()  # one chat platform: both replicas post to it
    a = await replica("a", chat=chat)
    # A's lease keeper would also find the task gone within a round, but a
    # progress edit could land first: here only the notice can tell A.
    stall_renewals(a)
    b = await replica("b", chat=chat)
    task = await a.service.submit(make_request())
    await chat.wait_for(
        lambda: any(e.task.state is TaskState.RUNNING for e in chat.of(task.id))
    )

    await b.service.cancel(task.id, ANN, moderator=False)
    await asyncio.sleep(SIMULATED)  # past the video's end: A would have posted it

    assert chat.outcomes(task.id) == []
    assert chat.of(task.id, "edit")[-1].task.state is TaskState.CANCELLED
    assert a.tracker.tracked == 0
    assert created(simulator, task) == 1


async def test_a_task_cancelled_on_another_replica_is_never_delivered(
    replica: Replica, simulator: Simulator
) -> None:
    a, b = await replica("a"), await replica("b")
    task = await a.service.submit(make_request())
    await chat_of(a).wait_for(lambda: submitted(chat_of(a), task))

    await b.service.cancel(task.id, ANN, moderator=False)
    await until(lambda: _let_go(a), within=TAKEOVER)
    await asyncio.sleep(SIMULATED)  # past the video's end

    assert posted([chat_of(a), chat_of(b)], task) == []
    assert (await a.store.get(task.id)).state is TaskState.CANCELLED
    assert created(simulator, task) == 1


# -- the queue ---------------------------------------------------------------------


async def test_two_replicas_advancing_one_servers_line_at_once_start_each_task_once(
    replica: Replica, simulator: Simulator
) -> None:
    limit = {"SERVER_CONCURRENCY_LIMIT": 2}
    a, b = await replica("a", **limit), await replica("b", **limit)
    line = await _line(a, 4)

    await asyncio.gather(
        a.queue.advance(Platform.CLI, "w1"), b.queue.advance(Platform.CLI, "w1")
    )
    # Each finished video frees a slot for the next, on either replica.
    finished = [await settled(a, task.id) for task in line]

    for task, stored in zip(line, finished, strict=True):
        assert stored.failure is None
        assert created(simulator, task) == 1
        assert posted([chat_of(a), chat_of(b)], task) == ["video"]


async def test_two_replicas_advancing_one_servers_line_at_once_keep_its_limit(
    replica: Replica, backend: Backend
) -> None:
    if backend.name == "sqlite":
        pytest.skip(
            "SQLite's exclusive is a lock in one store's memory (one process per "
            "file), so two stores on one file do not wait for each other"
        )
    # On Slack, so that starting a task counts it against the server's quotas.
    limit: dict[str, Any] = {"SERVER_CONCURRENCY_LIMIT": 2}
    a = await replica("a", chat=RecordingChat(platform=Platform.SLACK), **limit)
    b = await replica("b", chat=RecordingChat(platform=Platform.SLACK), **limit)
    line = await _line(a, 4, Platform.SLACK)

    await asyncio.gather(
        a.queue.advance(Platform.SLACK, "w1"), b.queue.advance(Platform.SLACK, "w1")
    )
    states = {task.id: (await a.store.get(task.id)).state for task in line}
    counted = await backend.fetch("SELECT task_id FROM usage")

    started = sorted(i for i, state in states.items() if state is not TaskState.QUEUED)
    assert len(started) == 2
    assert sorted(task_id for (task_id,) in counted) == started


# -- helpers -----------------------------------------------------------------------


async def _line(
    replica: Runtime, length: int, platform: Platform = Platform.CLI
) -> list[Task]:
    """``length`` members' requests waiting in server w1's line, none running."""
    line = [
        make_task(
            make_request(f"video {n}", user=f"u{n}", platform=platform),
            state=TaskState.QUEUED,
        )
        for n in range(length)
    ]
    for task in line:
        await replica.store.add(task)
    return line


async def _held_by(backend: Backend, tasks: Iterable[Task], holder: str) -> bool:
    return await holders(backend, tasks) == {holder}


async def _answered(simulator: Simulator) -> bool:
    return any(r.status == 200 for r in creates(simulator))


async def _sent(simulator: Simulator, task: Task) -> bool:
    return created(simulator, task) == 1


async def _let_go(runtime: Runtime) -> bool:
    return runtime.tracker.tracked == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
