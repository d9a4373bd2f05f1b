"""A Slack retry starts nothing, whichever bot instance it reaches, even after restart.

Behind a load balancer Slack's redelivery (``X-Slack-Retry-Num``, the same
``trigger_id`` or ``event_id``) may land on another replica than the first
delivery, or on the same one after it restarted. Two real bots (``Runtime`` with
unmodified slack-bolt in HTTP mode, signed requests) share one SQLite file in WAL
mode, as replicas share a database; the fake Slack and the simulator are the same
for both, so they see everything either bot does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings
from bot.simulator import Simulator
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    all_done,
    bot_env,
    bot_settings,
    events_url,
    eventually,
    running_bot,
    status_messages,
)
from tests.fakes.slack_payloads import CHANNEL, HttpDelivery, app_mention, slash_command

pytestmark = pytest.mark.e2e

# Seconds a simulated job takes (read by the shared ``simulator`` fixture).
SIM_DURATION = 0.5


def _settings(tmp_path: Path, fake: FakeSlack, simulator: Simulator) -> Settings:
    return bot_settings(bot_env(tmp_path, fake, simulator))


async def _jobs_finished(fake: FakeSlack, simulator: Simulator, count: int) -> None:
    await fake.wait_for("files.completeUploadExternal", count=count, within=15)
    await eventually(lambda: all_done(fake, CHANNEL))
    # Long enough for a wrongly started job to have posted its status message.
    await asyncio.sleep(0.5)


def _mention_replies(fake: FakeSlack, event: dict[str, object]) -> int:
    ts = event["event"]["ts"]  # type: ignore[index]
    return len(
        [c for c in fake.calls_of("chat.postMessage") if c.args.get("thread_ts") == ts]
    )


async def test_command_retried_to_the_other_replica_starts_no_second_job(
    tmp_path, fake, simulator
):
    settings = _settings(tmp_path, fake, simulator)
    command = slash_command(fake, "one corgi across two replicas")
    async with (
        running_bot(settings) as first,
        running_bot(settings) as second,
        aiohttp.ClientSession() as session,
    ):
        at_first = HttpDelivery(events_url(first), session)
        at_second = HttpDelivery(events_url(second), session)

        ack = await at_first.command(command)
        retry = await at_second.command(command, retry=1)
        await _jobs_finished(fake, simulator, count=1)

        after_retry = (len(simulator.requests), len(status_messages(fake, CHANNEL)))
        other = await at_second.command(slash_command(fake, "a second corgi"))
        await _jobs_finished(fake, simulator, count=2)

    assert (ack.status, retry.status, other.status) == (200, 200, 200)
    assert after_retry == (1, 1)
    assert len(simulator.requests) == 2
    assert len(status_messages(fake, CHANNEL)) == 2


async def test_event_and_command_retried_after_a_restart_start_nothing_again(
    tmp_path, fake, simulator
):
    settings = _settings(tmp_path, fake, simulator)
    command = slash_command(fake, "one corgi across a restart")
    mention = app_mention(fake, "<@UBOT> help")
    async with aiohttp.ClientSession() as session:
        async with running_bot(settings) as before:
            delivery = HttpDelivery(events_url(before), session)
            await delivery.command(command)
            await delivery.event(mention)
            await _jobs_finished(fake, simulator, count=1)

        async with running_bot(settings) as after:
            delivery = HttpDelivery(events_url(after), session)
            retries = (
                await delivery.command(command, retry=1),
                await delivery.event(mention, retry=1),
            )
            await asyncio.sleep(0.5)
            redone = (
                len(simulator.requests),
                len(status_messages(fake, CHANNEL)),
                _mention_replies(fake, mention),
            )
            fresh = app_mention(fake, "<@UBOT> help")
            await delivery.event(fresh)
            await fake.wait_for(
                "chat.postMessage",
                where=lambda c: c.args.get("thread_ts") == fresh["event"]["ts"],
            )

    assert [ack.status for ack in retries] == [200, 200]
    assert redone == (1, 1, 1)
