"""Slack's share of ``/metrics`` and ``/readyz``, end to end on the fake Slack.

The bot runs for real (Runtime, SQLite, the simulator, unmodified slack-bolt and
slack-sdk); the figures scraped from its ``/metrics`` are checked against what the
fake Slack itself recorded, and ``/readyz`` against the fake being up or down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    all_done,
    bot_env,
    bot_settings,
    events_url,
    eventually,
    running_bot,
)
from tests.fakes.slack_payloads import CHANNEL, HttpDelivery, slash_command
from tests.observability import counted, ready, ready_becomes, scrape, value

pytestmark = pytest.mark.e2e

SIM_DURATION = 1.0
JOBS = 6
# chat.update calls the fake allows per 2-second window: few enough that an
# unbudgeted burst of JOBS draws 429s.
LIMIT = 4
SLACK = {"platform": "slack"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(tier3_per_minute=LIMIT, window=2.0) as fake:
        yield fake


async def test_every_slack_call_and_429_is_counted_as_the_fake_saw_it(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator)
    env["SLACK_UPDATES_PER_MINUTE"] = "60000"  # no budget: let 429s happen

    async with running_bot(bot_settings(env)) as runtime:
        async with aiohttp.ClientSession() as session:
            delivery = HttpDelivery(events_url(runtime), session)
            for i in range(JOBS):
                await delivery.command(
                    slash_command(fake, f"corgi {i}", user_id=f"U{i}")
                )
        await fake.wait_for("files.completeUploadExternal", count=JOBS, within=60)
        await eventually(lambda: all_done(fake, CHANNEL), 30)
        # Web API calls plus the upload of each file to its upload URL.
        await counted(
            runtime.base_url,
            "sorabot_chat_api_calls_total",
            lambda: len(fake.calls) + len(fake.uploaded_files),
            **SLACK,
        )
        samples = await scrape(runtime.base_url)

    assert fake.rate_limited > 0
    assert value(samples, "sorabot_chat_api_rate_limited_total", **SLACK) == (
        fake.rate_limited
    )
    assert value(samples, "sorabot_status_edits_coalesced_total", **SLACK) > 0
    assert value(samples, "sorabot_tasks_total", state="delivered") == JOBS
    delivered = "sorabot_delivery_duration_seconds_count"
    assert value(samples, delivered, **SLACK) == JOBS


async def test_readyz_names_slack_when_it_refuses_the_bot_token(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator)
    env["SLACK_BOT_TOKEN"] = "xoxb-revoked"

    async with running_bot(bot_settings(env)) as runtime:
        code, body = await ready(runtime.base_url)

    assert code == 503
    assert body["problems"] == {"slack": "Slack refused the bot token (invalid_auth)"}


async def test_readyz_follows_the_socket_mode_connection_down_and_back(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator, http=False, socket=True)

    async with running_bot(bot_settings(env)) as runtime:
        assert await ready(runtime.base_url) == (200, {"status": "ready"})
        await fake.stop()
        down = await ready_becomes(runtime.base_url, 503)
        await fake.start()
        await ready_becomes(runtime.base_url, 200, within=60)

    assert down["problems"] == {"slack": "Slack Socket Mode is not connected"}
