"""A bot killed mid-job (SIGKILL) finishes the job once, in the same thread, on restart.

The bot runs as a real ``sorabot run`` subprocess configured only through its
environment; the fake Slack and the simulator live in the test process, so they
keep their state while the bot dies and comes back.
"""

from __future__ import annotations

import aiohttp
import pytest

from adapters.slack import EVENTS_PATH
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.bot_process import BotProcess, free_port
from tests.fakes.slack_bot import (
    SAMPLE_MP4,
    all_done,
    bot_env,
    eventually,
    status_messages,
)
from tests.fakes.slack_payloads import CHANNEL, HttpDelivery, slash_command

pytestmark = pytest.mark.e2e

# Seconds a simulated job takes (read by the shared ``simulator`` fixture). The
# bot is killed at its first "Generating" edit, one edit interval (2 s in
# production) after the status post: the job must outlast that, with a second to
# spare.
SIM_DURATION = 3.0


async def test_sigkill_mid_job_then_restart_delivers_once_in_the_same_thread(
    tmp_path, fake, simulator
):
    env = {**bot_env(tmp_path, fake, simulator), "HTTP_PORT": str(free_port())}
    bot = BotProcess(env, tmp_path / "bot.log", tmp_path)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            ack = await HttpDelivery(bot.base_url + EVENTS_PATH, session).command(
                slash_command(fake, "a corgi that survives")
            )
        assert ack.status == 200
        await fake.wait_for(
            "chat.update", where=lambda c: "Generating" in str(c.args), within=10
        )
        await bot.kill()
        assert fake.uploaded_files == []

        await bot.start()
        await fake.wait_for("files.completeUploadExternal", within=20)
        await eventually(lambda: all_done(fake, CHANNEL))
    finally:
        await bot.stop()

    [status] = status_messages(fake, CHANNEL)
    [video] = fake.uploaded_files
    assert video.thread_ts == status.ts
    assert video.data == SAMPLE_MP4.read_bytes()
    assert len(simulator.requests) == 1


async def test_a_waiting_request_survives_sigkill_and_starts_after_the_restart(
    tmp_path, fake, simulator
):
    env = {
        **bot_env(tmp_path, fake, simulator),
        "HTTP_PORT": str(free_port()),
        "USER_CONCURRENCY_LIMIT": "1",
    }
    bot = BotProcess(env, tmp_path / "bot.log", tmp_path)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            delivery = HttpDelivery(bot.base_url + EVENTS_PATH, session)
            for prompt in ("a heron that survives", "a heron that waits"):
                await delivery.command(slash_command(fake, prompt))
        await eventually(lambda: len(status_messages(fake, CHANNEL)) == 2)
        waiting = status_messages(fake, CHANNEL)[1]
        await eventually(lambda: "Queued, 1st in line" in str(waiting.blocks))
        # Killed while the first one generates (a create under way when the
        # bot dies is the tracker's business, see the test above).
        await fake.wait_for(
            "chat.update", where=lambda c: "Generating" in str(c.args), within=10
        )
        await bot.kill()
        created_before = len(simulator.requests)

        await bot.start()
        await fake.wait_for("files.completeUploadExternal", count=2, within=30)
        await eventually(lambda: all_done(fake, CHANNEL))
    finally:
        await bot.stop()

    assert created_before == 1
    assert [r.body["prompt"] for r in simulator.requests] == [
        "a heron that survives",
        "a heron that waits",
    ]
    threads = sorted(v.thread_ts or "" for v in fake.uploaded_files)
    assert threads == sorted(s.ts for s in status_messages(fake, CHANNEL))
