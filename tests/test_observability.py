"""``/metrics`` and ``/readyz`` of a real runtime, scraped over HTTP while it works.

The runtime is the real one (SQLite file, tracker, the provider client over HTTP to
the simulator); the chat is the recording CLI surface. Counters are read before and
after, so each test checks what its own work added.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from bot.models import TaskState
from bot.storage import sqlite_path
from tests.backends import Backend
from tests.fakes.tasks import make_request, settled
from tests.observability import moved, ready, scrape, scraped_when, value

pytestmark = pytest.mark.e2e

LATENCY = "sorabot_provider_request_duration_seconds"
PROVIDER = {"provider": "default", "dialect": "openai"}


async def test_two_generations_move_task_counters_and_provider_latency_by_two(
    make_runtime, simulator
):
    runtime = await make_runtime()
    before = await scrape(runtime.base_url)

    tasks = [await runtime.service.submit(make_request(f"corgi {n}")) for n in (1, 2)]
    for task in tasks:
        assert (await settled(runtime, task.id)).state is TaskState.DELIVERED
    after = await scrape(runtime.base_url)

    for state in ("received", "submitted", "succeeded", "delivered"):
        assert moved(before, after, "sorabot_tasks_total", state=state) == 2, state
    assert moved(before, after, "sorabot_tasks_total", state="failed") == 0
    assert moved(before, after, f"{LATENCY}_count", **PROVIDER, kind="create") == 2
    # Every status query the simulator answered, and each video fetched once.
    queries = sum(simulator.queries.values())
    assert queries >= 2
    assert moved(before, after, f"{LATENCY}_count", **PROVIDER, kind="query") == queries
    assert moved(before, after, f"{LATENCY}_count", **PROVIDER, kind="download") == 2
    assert moved(before, after, f"{LATENCY}_sum", **PROVIDER, kind="query") > 0
    assert (
        moved(before, after, "sorabot_delivery_duration_seconds_count", platform="cli")
        == 2
    )
    assert value(after, "sorabot_tasks_in_flight") == 0
    assert ("sorabot_queue_depth", frozenset({("lane", "fast")})) in after
    # prometheus_client's process and platform collectors, on this registry.
    assert value(after, "process_cpu_seconds_total") > 0
    assert any(name == "python_info" for name, _ in after)


async def test_failures_are_counted_by_kind_and_provider_errors_by_way_of_failing(
    make_runtime, simulator
):
    runtime = await make_runtime()
    before = await scrape(runtime.base_url)

    failed = await runtime.service.submit(make_request("a duck #moderation"))
    hiccup = await runtime.service.submit(make_request("a goose #servererror"))
    assert (await settled(runtime, failed.id)).failure is not None
    assert (await settled(runtime, hiccup.id)).failure is None
    after = await scrape(runtime.base_url)

    kind = (await runtime.store.get(failed.id)).failure.kind.value
    assert moved(before, after, "sorabot_task_failures_total", kind=kind) == 1
    assert moved(before, after, "sorabot_tasks_total", state="failed") == 1
    assert moved(before, after, "sorabot_tasks_total", state="succeeded") == 1
    errors = "sorabot_provider_errors_total"
    assert (
        moved(before, after, errors, **PROVIDER, kind="query", error="unavailable") == 1
    )


async def test_readyz_is_ready_while_database_and_provider_answer(make_runtime):
    runtime = await make_runtime()

    assert await ready(runtime.base_url) == (200, {"status": "ready"})


def _directory_in_place_of(database: Path, aside: Path) -> None:
    # Blocks reading even for root, where a chmod 000 would not.
    database.rename(aside)
    database.mkdir()


def _file_back_in_place(database: Path, aside: Path) -> None:
    database.rmdir()
    aside.rename(database)


def _copy_in_place_of(database: Path, aside: Path) -> None:
    copy = aside.with_suffix(".copy")
    shutil.copyfile(database, copy)
    database.rename(aside)
    copy.rename(database)


async def test_readyz_turns_503_while_the_database_file_is_replaced_then_recovers(
    make_runtime, tmp_path: Path
):
    runtime = await make_runtime()
    database = sqlite_path(runtime.settings.database_url)
    aside = tmp_path / "aside.db"

    _directory_in_place_of(database, aside)
    code, body = await ready(runtime.base_url)
    _file_back_in_place(database, aside)

    assert code == 503
    assert body["status"] == "not ready"
    assert str(database) in body["problems"]["database"]
    assert list(body["problems"]) == ["database"]
    assert await ready(runtime.base_url) == (200, {"status": "ready"})


async def test_readyz_turns_503_when_the_file_is_swapped_for_a_copy(
    make_runtime, tmp_path: Path
):
    runtime = await make_runtime()

    _copy_in_place_of(
        sqlite_path(runtime.settings.database_url), tmp_path / "original.db"
    )
    code, body = await ready(runtime.base_url)

    assert code == 503
    assert "replaced" in body["problems"]["database"]


async def test_readyz_turns_503_when_the_database_connection_is_gone(
    make_runtime, backend: Backend
):
    runtime = await make_runtime(DATABASE_URL=backend.url)
    assert (await ready(runtime.base_url))[0] == 200

    await runtime.store.close()
    code, body = await ready(runtime.base_url)

    assert code == 503
    assert "does not answer" in body["problems"]["database"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_readyz_turns_503_when_the_provider_cannot_be_reached(make_runtime):
    runtime = await make_runtime(SORA_API_URL=f"http://127.0.0.1:{_closed_port()}")
    assert (await ready(runtime.base_url))[0] == 200

    await runtime.service.submit(make_request())
    labels = {**PROVIDER, "kind": "create", "error": "unreachable"}
    await scraped_when(
        runtime.base_url,
        lambda s: value(s, "sorabot_provider_errors_total", **labels) >= 3,
        within=20,
    )
    code, body = await ready(runtime.base_url)

    assert code == 503
    assert list(body["problems"]) == ["provider"]
