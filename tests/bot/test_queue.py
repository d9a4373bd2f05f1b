"""The bot's own line through a real runtime: who waits, who starts, in what order."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.errors import UserInputError
from bot.models import Platform, Requester, TaskState
from bot.queue import fair_order
from bot.rendering import state_label
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_request, make_task, settled

ANN = Requester(user_id="u1", display_name="Ann")


def _labels(runtime, task_id: str) -> list[str]:
    return [state_label(e.task) for e in runtime.chat.of(task_id)]


async def test_over_the_running_limit_requests_wait_and_start_in_order(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(USER_CONCURRENCY_LIMIT=1)

    tasks = [await runtime.service.submit(make_request(f"video {n}")) for n in range(3)]
    states = [t.state for t in tasks]
    first_creates = len(creates(simulator))
    done = [await settled(runtime, t.id) for t in tasks]

    assert states == [TaskState.RECEIVED, TaskState.QUEUED, TaskState.QUEUED]
    assert first_creates <= 1
    assert [c.body["prompt"] for c in creates(simulator)] == [
        "video 0",
        "video 1",
        "video 2",
    ]
    assert [t.state for t in done] == [TaskState.DELIVERED] * 3
    # Each waiting one started only after the one before it was delivered.
    for before, after in itertools.pairwise(done):
        started = next(
            e.at for e in runtime.chat.of(after.id) if e.task.state.in_flight
        )
        delivered = next(e.at for e in runtime.chat.of(before.id, "video"))
        assert started >= delivered
    assert _labels(runtime, tasks[1].id)[0] == "Queued, 1st in line"
    third = _labels(runtime, tasks[2].id)
    assert third[0] == "Queued, 2nd in line"
    assert "Queued, 1st in line" in third


async def test_a_full_line_refuses_with_a_sentence_and_stores_nothing(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(
        start=False, USER_CONCURRENCY_LIMIT=1, USER_QUEUE_LIMIT=2
    )
    for n in range(3):
        await runtime.service.submit(make_request(f"video {n}"))

    with pytest.raises(
        UserInputError,
        match=r"You already have 1 video in progress and 2 waiting, the most this "
        r"server lets wait \(2\)\.",
    ):
        await runtime.service.submit(make_request("one too many"))

    assert len(await runtime.store.recent()) == 3
    assert simulator.requests == []


async def test_a_waiting_request_counts_nothing_and_sends_nothing_when_cancelled(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(start=False, USER_CONCURRENCY_LIMIT=1)
    await runtime.service.submit(make_request("runs"))
    second = await runtime.service.submit(make_request("waits"))
    third = await runtime.service.submit(make_request("waits too"))

    await runtime.service.cancel(second.id, ANN, moderator=False)

    assert (await runtime.store.get(second.id)).state is TaskState.CANCELLED
    assert "Queued, 1st in line" in _labels(runtime, third.id)
    assert simulator.requests == []
    assert await runtime.store.running_counts(second.request.chat.platform, "w1") == {
        "u1": 1
    }


async def test_the_server_limit_lets_members_take_turns(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SERVER_CONCURRENCY_LIMIT=1)
    service = runtime.service
    ann = [await service.submit(make_request(f"ann {n}")) for n in range(3)]
    bob = await service.submit(make_request("bob 0", user="bob"))

    for task in (*ann, bob):
        await settled(runtime, task.id)

    # Bob's one request does not wait behind all of Ann's.
    assert [c.body["prompt"] for c in creates(simulator)] == [
        "ann 0",
        "ann 1",
        "bob 0",
        "ann 2",
    ]


async def test_waiting_requests_survive_a_restart_and_start_after_it(
    make_runtime, simulator
) -> None:
    before = await make_runtime(start=False, USER_CONCURRENCY_LIMIT=1)
    tasks = [await before.service.submit(make_request(f"video {n}")) for n in range(2)]
    await before.__aexit__(None, None, None)

    after = await make_runtime(USER_CONCURRENCY_LIMIT=1)
    done = [await settled(after, t.id) for t in tasks]

    assert [t.state for t in done] == [TaskState.DELIVERED] * 2
    assert [c.body["prompt"] for c in creates(simulator)] == ["video 0", "video 1"]


def test_fair_order_takes_each_members_first_request_before_anyones_second() -> None:
    a1, a2, a3 = (make_task(make_request(f"a{n}", user="a")) for n in range(3))
    b1, b2 = (make_task(make_request(f"b{n}", user="b")) for n in range(2))
    c1 = make_task(make_request("c0", user="c"))

    line = fair_order([a1, a2, a3, b1, c1, b2])

    assert line == [a1, b1, c1, a2, b2, a3]


async def test_a_waiting_request_counts_against_no_quota_until_its_turn(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(
        chat=RecordingChat(platform=Platform.DISCORD),
        USER_CONCURRENCY_LIMIT=1,
        USER_DAILY_VIDEOS=2,
    )
    tasks = [
        await runtime.service.submit(
            make_request(f"video {n}", platform=Platform.DISCORD)
        )
        for n in range(3)
    ]
    done = [await settled(runtime, t.id) for t in tasks]

    # Two waited without counting, so the third was accepted into the line; at
    # its turn the day's two were made, and it was refused with the sentence.
    assert [t.state for t in tasks] == [TaskState.RECEIVED, *[TaskState.QUEUED] * 2]
    assert [c.body["prompt"] for c in creates(simulator)] == ["video 0", "video 1"]
    assert done[2].failure is not None
    assert done[2].failure.message.startswith("You've made 2 of your 2 videos today")
    [error] = runtime.chat.of(tasks[2].id, "error")
    assert error.failure == done[2].failure


async def test_a_request_cancelled_while_its_turn_is_counted_is_given_back(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(
        chat=RecordingChat(platform=Platform.DISCORD),
        USER_CONCURRENCY_LIMIT=1,
        USER_DAILY_VIDEOS=2,
    )
    first = await runtime.service.submit(
        make_request("runs", platform=Platform.DISCORD)
    )
    waiting = await runtime.service.submit(
        make_request("waits", platform=Platform.DISCORD)
    )
    reserve = runtime.queue._reserve
    cancels = []

    async def counted_then_cancelled(task):
        # The member presses Cancel just as the line reaches the request: the
        # cancel is saved, and gives back what it finds counted (nothing yet),
        # before this turn's count is recorded.
        if task.id == waiting.id:
            cancels.append(
                asyncio.create_task(
                    runtime.service.cancel(waiting.id, ANN, moderator=True)
                )
            )
            await settled(runtime, waiting.id)  # saved as cancelled
            await asyncio.sleep(0.2)  # its refund, next, finds nothing to give back
        await reserve(task)

    runtime.queue._reserve = counted_then_cancelled
    await settled(runtime, first.id)
    cancelled = await settled(runtime, waiting.id)
    await asyncio.gather(*cancels)
    again = await runtime.service.submit(
        make_request("the day's second video", platform=Platform.DISCORD)
    )

    assert cancelled.state is TaskState.CANCELLED
    assert [c.body["prompt"] for c in creates(simulator)][:1] == ["runs"]
    assert "waits" not in [c.body["prompt"] for c in creates(simulator)]
    # Nothing of the cancelled one still counts: the day's second is allowed.
    assert again.state is TaskState.RECEIVED
