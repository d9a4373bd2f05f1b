"""Task life derived from id and clock: phases, restarts, the CLI process."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys

import httpx
import pytest

from bot.simulator._tasks import Flag, Phase, Refusal, TaskSpec, snapshot
from tests.fakes.provider import running_simulator, simulator_process
from tests.simulator.helpers import (
    DIALECT_NAMES,
    FINISHED,
    create_task,
    poll,
    query_path,
    state_of,
    task_id_of,
)

SPEC = TaskSpec(
    dialect="openai",
    created=1_760_000_000.0,
    duration=10.0,
    model="sora-2-pro",
    seconds=25,
    width=1024,
    height=1792,
    flags=Flag.LARGE,
    large_bytes=123_456_789,
)


def test_every_field_survives_the_round_trip_through_the_id() -> None:
    code = SPEC.encode()

    assert TaskSpec.decode(code) == SPEC
    assert len(code) == 48
    assert code == code.lower()


def test_a_garbled_id_decodes_to_nothing() -> None:
    code = SPEC.encode()
    flipped = code[:10] + ("a" if code[10] != "a" else "b") + code[11:]

    assert TaskSpec.decode(flipped) is None
    assert TaskSpec.decode("not-an-id") is None
    assert TaskSpec.decode("?" * 48) is None


def test_equal_requests_get_distinct_ids() -> None:
    twin = dataclasses.replace(SPEC, nonce=SPEC.nonce + 1)

    assert twin.encode() != SPEC.encode()


@pytest.mark.parametrize(
    ("elapsed", "phase", "progress"),
    [
        (0.0, Phase.QUEUED, 0),
        (0.5, Phase.QUEUED, 0),
        (1.0, Phase.RUNNING, 10),
        (4.5, Phase.RUNNING, 45),
        (9.99, Phase.RUNNING, 99),
        (10.0, Phase.SUCCEEDED, 100),
        (99.0, Phase.SUCCEEDED, 100),
    ],
)
def test_a_task_is_queued_then_runs_with_rising_progress_then_succeeds(
    elapsed: float, phase: Phase, progress: int
) -> None:
    snap = snapshot(SPEC, SPEC.created + elapsed)

    assert (snap.phase, snap.progress) == (phase, progress)


def test_a_running_task_never_reports_a_whole_share_done() -> None:
    # 9.9996 s of 10 rounds to 1.0 at four places; upstream says < 1 until done.
    running = snapshot(SPEC, SPEC.created + 9.9996)
    done = snapshot(SPEC, SPEC.created + 10.0)

    assert running.phase is Phase.RUNNING
    assert 0 < running.share < 1
    assert done.share == 1.0


def test_moderation_fails_only_after_passing_90_percent() -> None:
    spec = dataclasses.replace(SPEC, flags=Flag.MODERATION)

    before = snapshot(spec, spec.created + 9.4)
    after = snapshot(spec, spec.created + 9.5)

    assert (before.phase, before.progress) == (Phase.RUNNING, 94)
    assert (after.phase, after.refusal, after.progress) == (
        Phase.FAILED,
        Refusal.OUTPUT,
        95,
    )


def test_prompt_moderation_fails_at_once() -> None:
    spec = dataclasses.replace(SPEC, flags=Flag.MODERATION_PROMPT)

    snap = snapshot(spec, spec.created)

    assert (snap.phase, snap.refusal, snap.started_at) == (
        Phase.FAILED,
        Refusal.PROMPT,
        None,
    )


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_a_restarted_simulator_answers_for_tasks_created_before(
    dialect: str,
) -> None:
    async with (
        running_simulator(0.3) as first,
        httpx.AsyncClient(base_url=first.base_url) as client,
    ):
        created = await create_task(client, dialect, "a corgi #moderation")
        task_id = task_id_of(dialect, created.json())

    async with (
        running_simulator(5.0) as second,
        httpx.AsyncClient(base_url=second.base_url) as client,
    ):
        answers = await poll(
            client,
            query_path(dialect, task_id),
            lambda a: state_of(dialect, a) in FINISHED,
        )

    # The first instance's 0.3 s and the moderation fault travel with the id.
    assert state_of(dialect, answers[-1]) in ("FAILURE", "failed")
    assert second.queries[task_id] == len(answers)


async def test_the_cli_prints_its_url_and_a_new_process_finishes_old_tasks() -> None:
    async with (
        simulator_process(0.5) as first,
        httpx.AsyncClient(base_url=first.base_url) as client,
    ):
        created = await create_task(client, "openai")
        video_id = created.json()["id"]

    async with (
        simulator_process(0.5) as second,
        httpx.AsyncClient(base_url=second.base_url) as client,
    ):
        answers = await poll(
            client, f"/v1/videos/{video_id}", lambda a: a["status"] == "completed"
        )
        content = await client.get(f"/v1/videos/{video_id}/content")

    assert answers[-1]["progress"] == 100
    assert content.content[4:8] == b"ftyp"


async def test_the_cli_exits_cleanly_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)

    process.send_signal(signal.SIGTERM)

    assert line.startswith(b"SIMULATOR_URL=http://127.0.0.1:")
    assert await asyncio.wait_for(process.wait(), timeout=10) == 0
