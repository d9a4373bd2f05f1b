"""Two relays behind the Slack bot: the video arrives once, through the one that
works, and no create is ever sent twice for one job.

The bot is the real thing (``Runtime`` with slack-bolt against the fake Slack, and
for the restart a real ``sorabot run`` process); the two relays are simulators on
their own ports, configured with ``SORA_PROVIDERS`` as an operator would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from adapters.slack import EVENTS_PATH
from adapters.slack.blocks import RETRY_ACTION
from bot.simulator import Simulator
from tests.adapters.slack_fixtures import fake  # noqa: F401 - the shared fixture
from tests.fakes.bot_process import BotProcess
from tests.fakes.provider import created_prompts, providers_json, running_simulators
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    SAMPLE_MP4,
    SIM_KEY,
    bot_env,
    bot_settings,
    buttons,
    events_url,
    eventually,
    running_bot,
    status_messages,
)
from tests.fakes.slack_payloads import (
    CHANNEL,
    HttpDelivery,
    block_action,
    slash_command,
)

pytestmark = pytest.mark.e2e

# Seconds the bot waits for a hung create (SORA_CREATE_TIMEOUT) before telling.
CREATE_TIMEOUT = 1


@pytest.fixture
async def sims() -> AsyncIterator[list[Simulator]]:
    async with running_simulators(2, 1.0, api_key=SIM_KEY) as started:
        yield started


def _env(tmp_path: Path, fake: FakeSlack, sims: list[Simulator]) -> dict[str, str]:  # noqa: F811
    env = bot_env(tmp_path, fake, sims[0])
    del env["SORA_API_URL"], env["SORA_API_KEY"]
    env["SORA_PROVIDERS"] = providers_json(sims, dialect="openai", key=SIM_KEY)
    return env


def _thread_texts(fake: FakeSlack) -> str:  # noqa: F811
    """What the first status message's thread says, the status itself left out."""
    statuses = status_messages(fake, CHANNEL)
    if not statuses:
        return ""
    status = statuses[0]
    return "\n".join(m.text for m in fake.thread_messages(CHANNEL, status.ts)[1:])


@pytest.mark.parametrize("fault", ["refuses connections", "answers 503"])
async def test_video_comes_once_through_provider_2_when_provider_1(
    fault: str,
    tmp_path: Path,
    fake: FakeSlack,  # noqa: F811
    sims: list[Simulator],
) -> None:
    p1, p2 = sims
    if fault == "refuses connections":
        await p1.refuse_connections()
    else:
        p1.inject("server_error", on="create", status=503)
    async with (
        running_bot(bot_settings(_env(tmp_path, fake, sims))) as runtime,
        aiohttp.ClientSession() as session,
    ):
        delivery = HttpDelivery(events_url(runtime), session)
        await delivery.command(slash_command(fake, "a corgi on a backup relay"))
        await fake.wait_for("files.completeUploadExternal", within=15)
        await asyncio.sleep(0.3)  # anything sent twice would show by now

    [video] = fake.uploaded_files
    assert video.data == SAMPLE_MP4.read_bytes()
    assert len(created_prompts(p1)) <= 1
    assert created_prompts(p2) == ["a corgi on a backup relay"]


async def test_hung_provider_1_is_told_in_time_and_retry_delivers_through_2(
    tmp_path: Path,
    fake: FakeSlack,  # noqa: F811
    sims: list[Simulator],
) -> None:
    p1, p2 = sims
    p1.inject("hang", times=10)
    env = {**_env(tmp_path, fake, sims), "SORA_CREATE_TIMEOUT": str(CREATE_TIMEOUT)}
    async with (
        running_bot(bot_settings(env)) as runtime,
        aiohttp.ClientSession() as session,
    ):
        delivery = HttpDelivery(events_url(runtime), session)
        started = time.monotonic()
        await delivery.command(slash_command(fake, "a corgi at a hung relay"))
        await eventually(
            lambda: "did not send the request again" in _thread_texts(fake),
            CREATE_TIMEOUT + 5,
        )
        told = time.monotonic() - started
        [status] = status_messages(fake, CHANNEL)
        await eventually(lambda: RETRY_ACTION in buttons(status.blocks))
        assert fake.uploaded_files == []
        assert created_prompts(p2) == []  # an unknown outcome never fails over

        task_id = buttons(status.blocks)[RETRY_ACTION]
        await delivery.interactive(block_action(fake, RETRY_ACTION, task_id))
        await fake.wait_for("files.completeUploadExternal", within=15)

    assert told < CREATE_TIMEOUT + 5
    assert "you would have paid twice" in _thread_texts(fake)
    assert len(fake.uploaded_files) == 1
    assert created_prompts(p1) == ["a corgi at a hung relay"]  # one create, ever
    assert created_prompts(p2) == ["a corgi at a hung relay"]


async def test_restart_resumes_the_task_at_provider_2_only(
    tmp_path: Path,
    fake: FakeSlack,  # noqa: F811
    sims: list[Simulator],
    unused_tcp_port: int,
) -> None:
    p1, p2 = sims
    p1.inject("server_error", on="create", status=503)
    # Outlasts the first run: it stops at the "Generating" edit, one edit
    # interval (2 s) after the status post.
    p2.duration = 3.0
    env = {**_env(tmp_path, fake, sims), "HTTP_PORT": str(unused_tcp_port)}
    bot = BotProcess(env, tmp_path / "bot.log", tmp_path)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            await HttpDelivery(bot.base_url + EVENTS_PATH, session).command(
                slash_command(fake, "a corgi that outlives its bot")
            )
        await fake.wait_for(
            "chat.update", where=lambda c: "Generating" in str(c.args), within=10
        )
        assert await bot.stop() == 0, bot.output()
        queried = sum(p2.queries.values())

        await bot.start()
        await fake.wait_for("files.completeUploadExternal", within=20)
    finally:
        await bot.stop()

    assert len(fake.uploaded_files) == 1
    assert sum(p2.queries.values()) > queried  # resumed where it ran
    assert sum(p1.queries.values()) == 0
    assert created_prompts(p1) == ["a corgi that outlives its bot"]  # the 503
    assert created_prompts(p2) == ["a corgi that outlives its bot"]
