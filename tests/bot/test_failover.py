"""Several providers through the real runtime: failover only when a create was
provably not taken, never a second create for one job, tasks stay with their
provider.

Two simulators on their own ports stand for two relays (``SORA_PROVIDERS``); the
bot's store is a real SQLite file and its chat surface a ``RecordingChat``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.config import Settings
from bot.errors import not_resent_message
from bot.models import TaskState
from bot.runtime import Runtime
from bot.simulator import Simulator
from tests.fakes.chat import RecordingChat
from tests.fakes.provider import providers_json, running_simulators
from tests.fakes.tasks import creates, make_request, make_task, settled
from tests.observability import ready, scrape, value

KEY = "sim-key"
OpenRuntime = Callable[..., Awaitable[Runtime]]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
async def sims() -> AsyncIterator[list[Simulator]]:
    async with running_simulators(2, 0.5, api_key=KEY) as started:
        yield started


@pytest.fixture
async def open_runtime(
    make_settings: Callable[..., Settings], sims: list[Simulator]
) -> AsyncIterator[OpenRuntime]:
    """Runtimes on ``SORA_PROVIDERS`` = p1, p2 (the two simulators) by default."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, start: bool = True, **env: Any) -> Runtime:
            values: dict[str, Any] = {"SORA_PROVIDERS": providers_json(sims)}
            values.update(env)
            runtime = await stack.enter_async_context(Runtime(make_settings(**values)))
            runtime.chat = RecordingChat()  # type: ignore[attr-defined]
            runtime.service.register_chat(runtime.chat)  # type: ignore[attr-defined]
            if start:
                await runtime.start()
            return runtime

        yield make


def _with_p1_at(url: str, sims: list[Simulator]) -> str:
    entries = json.loads(providers_json(sims))
    entries[0]["url"] = url
    return json.dumps(entries)


async def test_provider_that_refuses_connections_is_skipped_for_the_next(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    await p1.refuse_connections()
    runtime = await open_runtime()

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is None
    assert stored.provider == "p2"
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]
    assert creates(p1) == []
    assert len(creates(p2)) == 1
    assert sum(p2.queries.values()) >= 1


async def test_503_from_the_first_provider_fails_over_after_one_create(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503)
    runtime = await open_runtime()

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.provider == "p2"
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]
    assert [r.status for r in creates(p1)] == [503]
    assert [r.status for r in creates(p2)] == [200]
    assert sum(p1.queries.values()) == 0  # status and video come from p2 alone


async def test_hung_create_is_never_sent_again_and_the_member_is_told_in_time(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("hang", times=10)
    runtime = await open_runtime(SORA_CREATE_TIMEOUT=1.0)

    started = time.monotonic()
    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id, within=10)
    told = time.monotonic() - started

    assert told < 1.0 + 5
    assert stored.failure is not None
    assert stored.failure.message == not_resent_message("did not answer in time")
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["error"]
    assert len(creates(p1)) == 1
    assert creates(p2) == []  # an unknown outcome does not fail over


async def test_500_after_the_body_was_sent_is_not_sent_again(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=500)
    runtime = await open_runtime()

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "did not send the request again" in stored.failure.message
    assert len(creates(p1)) == 1
    assert creates(p2) == []


async def test_retry_after_a_hung_create_goes_to_the_other_provider(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("hang", times=10)
    runtime = await open_runtime(SORA_CREATE_TIMEOUT=1.0)
    hung = await runtime.service.submit(make_request())
    await settled(runtime, hung.id, within=10)

    retried = await runtime.service.retry(hung.id, hung.request.requester)
    stored = await settled(runtime, retried.id)

    assert stored.failure is None
    assert stored.provider == "p2"
    assert len(creates(p1)) == 1  # one create for the job, ever
    assert len(creates(p2)) == 1


async def test_three_failures_open_the_circuit_and_later_jobs_skip_the_provider(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503, times=10)
    runtime = await open_runtime()

    for n in range(5):
        task = await runtime.service.submit(make_request(f"job {n}"))
        assert (await settled(runtime, task.id)).provider == "p2"

    assert len(creates(p1)) == 3
    assert len(creates(p2)) == 5


async def test_when_no_provider_takes_it_the_member_is_told_within_the_timeout(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503, times=100)
    await p2.refuse_connections()
    runtime = await open_runtime(SORA_CREATE_TIMEOUT=2.0)

    started = time.monotonic()
    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id, within=15)

    assert time.monotonic() - started < 2.0 + 5
    assert stored.failure is not None
    assert "No video service could take this request" in stored.failure.message
    assert stored.provider == ""
    assert all(r.status == 503 for r in creates(p1))


async def test_private_request_goes_to_the_provider_that_keeps_it_private(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    entries = json.loads(providers_json(sims))
    entries[0]["dialect"] = "openai"  # no private field in its document
    runtime = await open_runtime(SORA_PROVIDERS=json.dumps(entries))

    task = await runtime.service.submit(make_request(private=True))
    stored = await settled(runtime, task.id)

    assert stored.provider == "p2"
    assert creates(p1) == []
    assert creates(p2)[0].body["private"] is True


async def test_restart_resumes_a_task_at_the_provider_that_took_it(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503)
    first = await open_runtime()
    task = await first.service.submit(make_request())
    await first.chat.wait_for(
        lambda: any(e.task.provider_task_id for e in first.chat.of(task.id, "edit"))
    )
    await first.__aexit__(None, None, None)
    queried_before = sum(p2.queries.values())

    second = await open_runtime()
    stored = await settled(second, task.id)

    assert stored.provider == "p2"
    assert [e.kind for e in second.chat.outcomes(task.id)] == ["video"]
    assert sum(p2.queries.values()) > queried_before
    assert sum(p1.queries.values()) == 0
    assert len(creates(p1)) + len(creates(p2)) == 2  # the 503 and the one taken


async def test_task_whose_provider_is_no_longer_configured_fails_plainly(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    runtime = await open_runtime(start=False)
    task = make_task(
        state=TaskState.RUNNING, provider="gone", provider_task_id="task_x"
    )
    await runtime.store.add(task)

    await runtime.start()
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "'gone', which the bot no longer uses" in stored.failure.message
    assert sum(s.queries["task_x"] for s in sims) == 0


async def test_create_cut_short_by_a_stop_is_not_sent_again_on_restart(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    runtime = await open_runtime(start=False)
    # Saved just before sending; the answer never was.
    task = make_task(provider="p1")
    await runtime.store.add(task)

    await runtime.start()
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "did not send the request again" in stored.failure.message
    assert all(creates(s) == [] for s in sims)


async def test_provider_one_at_a_closed_port_then_provider_two(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    runtime = await open_runtime(SORA_PROVIDERS=_with_p1_at(_closed_port_url(), sims))

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.provider == "p2"
    assert stored.failure is None


async def test_a_hung_relay_costs_at_most_three_jobs_before_jobs_go_elsewhere(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("hang", times=10)
    runtime = await open_runtime(SORA_CREATE_TIMEOUT=0.5)

    told = []
    for n in range(4):
        task = await runtime.service.submit(make_request(f"job {n}"))
        told.append(await settled(runtime, task.id, within=10))

    assert [t.failure is None for t in told] == [False, False, False, True]
    assert told[3].provider == "p2"
    assert len(creates(p1)) == 3
    assert len(creates(p2)) == 1


async def test_readyz_stays_ready_while_another_provider_takes_the_jobs(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1 = sims[0]
    await p1.refuse_connections()
    runtime = await open_runtime()

    for n in range(4):  # enough for p1 to count as unreachable, circuit open
        task = await runtime.service.submit(make_request(f"job {n}"))
        assert (await settled(runtime, task.id)).provider == "p2"
    code, _ = await ready(runtime.base_url)
    samples = await scrape(runtime.base_url)

    assert code == 200
    unreachable = {"provider": "p1", "dialect": "v2", "error": "unreachable"}
    assert (
        value(samples, "sorabot_provider_errors_total", kind="create", **unreachable)
        >= 1
    )
    assert not runtime.pool.get("p1").usable


async def test_a_providers_own_remix_goes_to_the_provider_that_made_the_video(
    open_runtime: OpenRuntime, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    await p1.refuse_connections()
    runtime = await open_runtime(SORA_PROVIDERS=providers_json(sims, dialect="sora"))
    original = await settled(
        runtime,
        (await runtime.service.submit(make_request(model="turbo", seconds=5))).id,
    )
    assert original.provider == "p2"
    await p1.accept_connections()

    remix = await runtime.service.remix(
        original.id, "now at night", original.request.requester
    )
    stored = await settled(runtime, remix.id)

    # Only p2 knows the source generation: p1, first in line, gets nothing.
    assert stored.failure is None
    assert stored.provider == "p2"
    assert creates(p1) == []
    assert [c.body["operation"] for c in creates(p2)] == ["simple_compose", "remix"]
