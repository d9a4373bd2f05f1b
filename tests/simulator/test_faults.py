"""Injected faults, prompt markers and the API key, across all five dialects."""

from __future__ import annotations

import struct
import time
from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import running_simulator
from tests.simulator.helpers import (
    CREATE_BODIES,
    DIALECT_NAMES,
    FINISHED,
    create_task,
    poll,
    query_path,
    state_of,
    task_id_of,
)


def error_message(dialect: str, body: dict[str, Any]) -> str:
    if dialect == "sora" and "error" not in body:
        return str(body["message"])
    return str(body["error"]["message"])


async def new_task(client: httpx.AsyncClient, dialect: str, prompt: str = "p") -> str:
    created = await create_task(client, dialect, prompt)
    assert created.status_code == 200, created.text
    return task_id_of(dialect, created.json())


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_rate_limit_answers_429_with_retry_after_then_recovers(
    sim: Simulator, client: httpx.AsyncClient, dialect: str
) -> None:
    sim.inject("rate_limit", seconds=3)

    refused = await create_task(client, dialect)
    accepted = await create_task(client, dialect)

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3"
    assert error_message(dialect, refused.json())
    assert accepted.status_code == 200
    assert [r.status for r in sim.requests] == [429, 200]


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_server_error_on_query_then_the_real_answer(
    sim: Simulator, client: httpx.AsyncClient, dialect: str
) -> None:
    task_id = await new_task(client, dialect)
    sim.inject("server_error", on="query")

    failed = await client.get(query_path(dialect, task_id))
    answered = await client.get(query_path(dialect, task_id))

    assert failed.status_code == 500
    assert error_message(dialect, failed.json())
    assert answered.status_code == 200
    assert sim.queries[task_id] == 2


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_auth_fault_answers_401_in_the_dialect_shape(
    sim: Simulator, client: httpx.AsyncClient, dialect: str
) -> None:
    sim.inject("auth")

    response = await create_task(client, dialect)

    assert response.status_code == 401
    assert "API key" in error_message(dialect, response.json())


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_an_api_key_is_required_once_configured(dialect: str) -> None:
    async with (
        running_simulator(0.2, api_key="sk-right") as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        missing = await create_task(client, dialect)
        wrong = await create_task(client, dialect, Authorization="Bearer sk-wrong")
        right = await create_task(client, dialect, Authorization="Bearer sk-right")
        task_id = task_id_of(dialect, right.json())
        query = await client.get(query_path(dialect, task_id))

    assert (missing.status_code, wrong.status_code, right.status_code) == (
        401,
        401,
        200,
    )
    assert query.status_code == 401
    assert all("authorization" not in r.headers for r in sim.requests)


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_malformed_answers_are_not_json_or_lack_fields(
    sim: Simulator, client: httpx.AsyncClient, dialect: str
) -> None:
    task_id = await new_task(client, dialect)
    sim.inject("malformed", on="query")
    sim.inject("malformed", mode="missing_fields", on="query")

    html = await client.get(query_path(dialect, task_id))
    partial = await client.get(query_path(dialect, task_id))

    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert partial.status_code == 200
    assert not {"status", "data"} & set(partial.json())


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_not_found_fault_and_garbled_ids(
    sim: Simulator, client: httpx.AsyncClient, dialect: str
) -> None:
    task_id = await new_task(client, dialect)
    sim.inject("not_found")
    garbled = task_id[:-3] + ("aaa" if not task_id.endswith("aaa") else "bbb")

    faulted = await client.get(query_path(dialect, task_id))
    broken = await client.get(query_path(dialect, garbled))
    fine = await client.get(query_path(dialect, task_id))

    assert faulted.status_code in (400, 404)
    assert broken.status_code == faulted.status_code
    assert fine.status_code == 200


async def test_an_id_of_one_dialect_is_unknown_to_another(
    client: httpx.AsyncClient,
) -> None:
    task_id = await new_task(client, "v2")

    response = await client.get(query_path("openai", task_id))

    assert response.status_code == 404


async def test_slow_fault_delays_the_answer(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    task_id = await new_task(client, "openai")
    sim.inject("slow", seconds=0.3, on="query")
    started = time.monotonic()

    response = await client.get(query_path("openai", task_id))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_faults_apply_as_many_times_as_asked(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("server_error", times=2, on="create", status=503)

    statuses = [(await create_task(client, "unified")).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
@pytest.mark.parametrize(
    ("marker", "status"), [("#ratelimit", 429), ("#servererror", 500)]
)
async def test_prompt_markers_fail_the_first_status_query_only(
    client: httpx.AsyncClient, dialect: str, marker: str, status: int
) -> None:
    task_id = await new_task(client, dialect, f"a corgi {marker}")

    first = await client.get(query_path(dialect, task_id))
    second = await client.get(query_path(dialect, task_id))

    assert first.status_code == status
    assert second.status_code == 200
    if status == 429:
        assert first.headers["Retry-After"] == "1"


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_moderation_marker_fails_every_dialect_after_90_percent(
    client: httpx.AsyncClient, dialect: str
) -> None:
    task_id = await new_task(client, dialect, "a knight #moderation")

    answers = await poll(
        client,
        query_path(dialect, task_id),
        lambda a: state_of(dialect, a) in FINISHED,
        interval=0.01,
    )

    assert state_of(dialect, answers[-1]) in ("FAILURE", "failed")


async def test_large_result_is_a_padded_valid_mp4(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    size = 3 * 1024 * 1024 + 17
    sim.inject("large", bytes=size)
    task_id = await new_task(client, "openai")
    await poll(
        client, query_path("openai", task_id), lambda a: a["status"] == "completed"
    )

    content = (await client.get(f"/v1/videos/{task_id}/content")).content

    sample = sample_video()
    assert len(content) == size
    assert content.startswith(sample)
    box_size, box_type = struct.unpack(">I4s", content[len(sample) : len(sample) + 8])
    assert (box_size, box_type) == (size - len(sample), b"free")
    assert sim.downloads[task_id] == 1


async def test_task_faults_hit_only_the_next_task(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("moderation_prompt")

    refused = await new_task(client, "unified")
    fine = await new_task(client, "unified")

    first = (await client.get(query_path("unified", refused))).json()
    second = (await client.get(query_path("unified", fine))).json()
    assert first["status"] == "failed"
    assert second["status"] in ("pending", "processing")


@pytest.mark.parametrize(
    ("fault", "params", "complaint"),
    [
        ("earthquake", {}, "unknown fault"),
        ("rate_limit", {"minutes": 1}, "no parameter"),
        ("malformed", {"mode": "xml"}, "malformed mode"),
        ("slow", {"on": "everything"}, "on must be"),
        ("moderation", {"seconds": 1}, "no parameter"),
        ("large", {"bytes": 2**40}, "large bytes"),
    ],
)
def test_unknown_faults_and_parameters_are_refused(
    fault: str, params: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Simulator().inject(fault, **params)


async def test_hang_fault_reads_and_records_the_create_but_never_answers(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("hang")

    path, body = CREATE_BODIES["v2"]
    with pytest.raises(httpx.ReadTimeout):
        await client.post(path, json={**body, "prompt": "p"}, timeout=0.5)
    answered = await create_task(client, "v2")

    [hung, second] = sim.requests
    assert hung.body["prompt"] == "p"  # the body arrived whole
    assert hung.status == 0  # and got no answer
    assert second.status == answered.status_code == 200


async def test_drop_fault_closes_the_connection_without_an_answer(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("drop")

    with pytest.raises(httpx.RemoteProtocolError):
        await create_task(client, "openai")

    assert len(sim.requests) == 1
    assert (await create_task(client, "openai")).status_code == 200


async def test_refused_connections_until_the_simulator_accepts_again(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    task_id = await new_task(client, "unified")

    await sim.refuse_connections()
    with pytest.raises(httpx.ConnectError):
        await create_task(client, "unified")
    await sim.accept_connections()

    # Same address, same tasks, and the refused create never arrived.
    assert (await client.get(query_path("unified", task_id))).status_code == 200
    assert len(sim.requests) == 1
