"""Two relays behind the Discord bot: the video arrives once, through the one that
works, and no create is ever sent twice for one job.

Unmodified discord.py against the fake Discord, the real ``Runtime``, and two
simulators on their own ports configured with ``SORA_PROVIDERS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.adapters.discord_harness import (
    SAMPLE_MP4,
    SIM_KEY,
    bot_env,
    bot_settings,
    custom_ids,
    progress_of,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider import created_prompts, providers_json, running_simulators

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

# Seconds the bot waits for a hung create (SORA_CREATE_TIMEOUT) before telling.
CREATE_TIMEOUT = 1


@pytest.fixture
async def sims() -> AsyncIterator[list[Simulator]]:
    async with running_simulators(2, 1.0, api_key=SIM_KEY) as started:
        yield started


def _env(tmp_path: Path, fake: FakeDiscord, sims: list[Simulator]) -> dict[str, str]:
    env = bot_env(tmp_path, fake, sims[0])
    del env["SORA_API_URL"], env["SORA_API_KEY"]
    env["SORA_PROVIDERS"] = providers_json(sims, dialect="openai", key=SIM_KEY)
    return env


@pytest.mark.parametrize("fault", ["refuses connections", "answers 503"])
async def test_video_comes_once_through_provider_2_when_provider_1(
    fault: str, tmp_path: Path, fake: FakeDiscord, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    if fault == "refuses connections":
        await p1.refuse_connections()
    else:
        p1.inject("server_error", on="create", status=503)
    async with running_bot(bot_settings(_env(tmp_path, fake, sims)), fake):
        await fake.send_slash("sora", {"prompt": "a kite on a backup relay"})
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))
        await asyncio.sleep(0.3)  # anything sent twice would show by now

    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert len(created_prompts(p1)) <= 1
    assert created_prompts(p2) == ["a kite on a backup relay"]


async def test_hung_provider_1_is_told_in_time_and_retry_delivers_through_2(
    tmp_path: Path, fake: FakeDiscord, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("hang", times=10)
    env = {**_env(tmp_path, fake, sims), "SORA_CREATE_TIMEOUT": str(CREATE_TIMEOUT)}
    async with running_bot(bot_settings(env), fake):
        started = time.monotonic()
        await fake.send_slash("sora", {"prompt": "a kite at a hung relay"})
        [status] = await wait_for_status(fake)
        thread_id = await thread_of(fake, status)
        [error] = await wait_for_thread_post(fake, thread_id, within=CREATE_TIMEOUT + 5)
        told = time.monotonic() - started
        assert created_prompts(p2) == []  # an unknown outcome never fails over

        retry = next(c for c in custom_ids(error) if c.startswith("sora:retry:"))
        await fake.click(error.id, retry)
        [_, again] = await wait_for_status(fake, 2)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, again))

    assert told < CREATE_TIMEOUT + 5
    assert "did not send the request again" in error.content
    assert "you would have paid twice" in error.content
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert created_prompts(p1) == ["a kite at a hung relay"]  # one create, ever
    assert created_prompts(p2) == ["a kite at a hung relay"]


async def test_restart_resumes_the_task_at_provider_2_only(
    tmp_path: Path, fake: FakeDiscord, sims: list[Simulator]
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503)
    # Outlasts the first run: it stops at the first progress edit, 0.3 s in.
    p2.duration = 2.0
    settings = bot_settings(_env(tmp_path, fake, sims))
    async with running_bot(settings, fake):
        await fake.send_slash("sora", {"prompt": "a kite that outlives its bot"})
        [status] = await wait_for_status(fake)
        thread_id = await thread_of(fake, status)
        await fake.wait_until(
            lambda: any("%" in progress_of(e) for e in status.edits), 10
        )
    queried = sum(p2.queries.values())
    assert fake.messages(thread_id) == []

    async with running_bot(settings, fake):
        [video] = await wait_for_thread_post(fake, thread_id, within=20)

    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert sum(p2.queries.values()) > queried  # resumed where it ran
    assert sum(p1.queries.values()) == 0
    assert created_prompts(p1) == ["a kite that outlives its bot"]  # the 503
    assert created_prompts(p2) == ["a kite that outlives its bot"]
