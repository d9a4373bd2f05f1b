"""Jobs that outlive their interaction, a bot killed mid-job, and prompts that ping."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.adapters.discord_harness import (
    SAMPLE_MP4,
    SIM_KEY,
    at_harness_pace,
    bot_env,
    bot_settings,
    eventually,
    progress_of,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


async def test_job_that_outlives_the_interaction_token_is_still_delivered(tmp_path):
    async with (
        FakeDiscord(token_lifetime=1.0) as fake,
        Simulator(2.0, api_key=SIM_KEY) as simulator,
    ):
        settings = bot_settings(bot_env(tmp_path, at_harness_pace(fake), simulator))
        async with running_bot(settings, fake):
            inter = await fake.send_slash("sora", {"prompt": "a slow tide"})
            [status] = await wait_for_status(fake)
            thread_id = await thread_of(fake, status)
            [video] = await wait_for_thread_post(fake, thread_id)
            await fake.wait_until(
                lambda: status.edits and "Done" in progress_of(status.edits[-1])
            )
            outlived = time.monotonic() - inter.dispatched_at > fake.token_lifetime

    assert outlived
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert fake.invalid_token_calls == 0
    assert [c for c in fake.calls if c.status == 401] == []


async def test_everyone_in_a_prompt_pings_nobody(fake: FakeDiscord, env, simulator):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "@everyone look <@&42> @here"})
        [status] = await wait_for_status(fake)
        await wait_for_thread_post(fake, await thread_of(fake, status))
        await fake.wait_until(
            lambda: status.edits and "Done" in progress_of(status.edits[-1])
        )

    writes = [
        c
        for c in fake.calls
        if c.method in ("POST", "PATCH")
        and isinstance(c.json, dict)
        and ("content" in c.json or "embeds" in c.json)
    ]
    assert len(writes) >= 4  # status, edits, the video, the private reply
    assert all(c.json.get("allowed_mentions") == {"parse": []} for c in writes), [
        (c.method, c.path, c.json.get("allowed_mentions")) for c in writes
    ]
    assert "@everyone" in status.embeds[0]["description"]


async def _start_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(process: asyncio.subprocess.Process) -> bytes:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 10)
    return stderr


async def test_bot_killed_mid_job_finishes_it_in_the_same_thread_once(tmp_path):
    async with (
        FakeDiscord() as fake,
        Simulator(4.0, api_key=SIM_KEY) as simulator,
    ):
        env = bot_env(tmp_path, fake, simulator)
        first = await _start_bot(env, tmp_path)
        try:
            await fake.wait_for_bot(timeout=30)
            await fake.send_slash("sora", {"prompt": "a hot air balloon"})
            [status] = await wait_for_status(fake)
            thread_id = await thread_of(fake, status)
            await eventually(lambda: simulator.requests and status.edits)
        finally:
            first.kill()
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        assert fake.messages(thread_id) == []

        identified = fake.gateway.identify_count
        second = await _start_bot(env, tmp_path)
        try:
            await fake.wait_for_bot(timeout=30, after=identified)
            [video] = await wait_for_thread_post(fake, thread_id, within=30)
            await fake.wait_until(
                lambda: "Done" in progress_of(status.edits[-1]), timeout=15
            )
        finally:
            stderr = await _stop(second)

    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()], stderr
    assert fake.messages(thread_id) == [video]
    assert len(fake.threads) == 1
    assert len(simulator.requests) == 1
    assert second.returncode == 0, stderr.decode()[-2000:]


async def test_bot_stops_when_discord_refuses_its_token_for_good(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake) as runtime:
        await fake.disconnect_bot(code=4004)  # Authentication failed: no reconnect

        await asyncio.wait_for(runtime.wait_stopped(), 10)
