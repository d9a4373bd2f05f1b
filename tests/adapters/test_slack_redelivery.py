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
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.simulator import Simulator
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack, Message
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


def _mention(fake: FakeSlack) -> dict[str, Any]:
    """A member's message mentioning the bot (in the channel), and its event."""
    event = app_mention(fake, "<@UBOT> help")
    message = Message(channel=CHANNEL, ts=fake.new_ts(), text="<@UBOT> help", blocks=[])
    fake.messages[(CHANNEL, message.ts)] = message
    event["event"]["ts"] = message.ts
    return event


def _replies_to(fake: FakeSlack, event: dict[str, Any]) -> list[Message]:
    return fake.thread_messages(CHANNEL, event["event"]["ts"])[1:]


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


async def test_event_retried_to_the_other_replica_is_answered_once(
    tmp_path, fake, simulator
):
    settings = _settings(tmp_path, fake, simulator)
    mention = _mention(fake)
    async with (
        running_bot(settings) as first,
        running_bot(settings) as second,
        aiohttp.ClientSession() as session,
    ):
        await HttpDelivery(events_url(first), session).event(mention)
        await eventually(lambda: len(_replies_to(fake, mention)) == 1)
        retry = await HttpDelivery(events_url(second), session).event(mention, retry=1)
        await asyncio.sleep(0.5)
        answered = len(_replies_to(fake, mention))
        fresh = _mention(fake)
        await HttpDelivery(events_url(second), session).event(fresh)
        await eventually(lambda: len(_replies_to(fake, fresh)) == 1)

    assert retry.status == 200
    assert answered == 1


async def test_event_and_command_retried_after_a_restart_start_nothing_again(
    tmp_path, fake, simulator
):
    settings = _settings(tmp_path, fake, simulator)
    command = slash_command(fake, "one corgi across a restart")
    mention = _mention(fake)
    async with aiohttp.ClientSession() as session:
        async with running_bot(settings) as before:
            delivery = HttpDelivery(events_url(before), session)
            await delivery.command(command)
            await delivery.event(mention)
            await _jobs_finished(fake, simulator, count=1)
            assert len(_replies_to(fake, mention)) == 1

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
                len(_replies_to(fake, mention)),
            )
            fresh = _mention(fake)
            await delivery.event(fresh)
            await eventually(lambda: len(_replies_to(fake, fresh)) == 1)

    assert [ack.status for ack in retries] == [200, 200]
    assert redone == (1, 1, 1)
