"""Many jobs in one workspace share chat.update's Tier 3 limit without hitting it.

The fake enforces a sliding-window limit on chat.update and answers 429 with
Retry-After beyond it. Time is scaled (a 2-second window instead of a minute) so
the test is quick; the bot's budget is scaled the same way, to 80 % of the limit.
"""

from __future__ import annotations

import asyncio
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
    status_messages,
)
from tests.fakes.slack_payloads import CHANNEL, HttpDelivery, slash_command

pytestmark = pytest.mark.e2e

# Seconds a simulated job takes (read by the shared ``simulator`` fixture).
SIM_DURATION = 1.0

JOBS = 30
WINDOW = 2.0  # seconds standing in for Slack's minute
LIMIT = 20  # chat.update calls per window: 600 a "minute"
BUDGET_PER_MINUTE = 0.8 * LIMIT * 60 / WINDOW


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(tier3_per_minute=LIMIT, window=WINDOW) as fake:
        yield fake


async def _burst(fake: FakeSlack, url: str, jobs: int = JOBS) -> None:
    async with aiohttp.ClientSession() as session:
        delivery = HttpDelivery(url, session)
        acks = await asyncio.gather(
            *(
                delivery.command(slash_command(fake, f"corgi {i}", user_id=f"U{i:04d}"))
                for i in range(jobs)
            )
        )
    assert {ack.status for ack in acks} == {200}
    await fake.wait_for("files.completeUploadExternal", count=jobs, within=60)


async def test_thirty_concurrent_jobs_finish_without_a_single_429(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator)
    env["SLACK_UPDATES_PER_MINUTE"] = str(BUDGET_PER_MINUTE)

    async with running_bot(bot_settings(env)) as runtime:
        await _burst(fake, events_url(runtime))
        await eventually(lambda: all_done(fake, CHANNEL), 30)

    assert fake.rate_limited == 0
    assert len(status_messages(fake, CHANNEL)) == JOBS
    # More edits than one window allows: pacing, not luck, kept them under it.
    assert len(fake.calls_of("chat.update")) > LIMIT


async def test_without_the_budget_the_same_burst_draws_429s_and_still_finishes(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator)
    env["SLACK_UPDATES_PER_MINUTE"] = "60000"

    async with running_bot(bot_settings(env)) as runtime:
        await _burst(fake, events_url(runtime))
        await eventually(lambda: all_done(fake, CHANNEL), 30)

    assert fake.rate_limited > 0
    assert len(fake.uploaded_files) == JOBS


async def test_with_two_replicas_alive_one_spends_half_the_workspace_budget(
    tmp_path, fake, simulator
):
    env = bot_env(tmp_path, fake, simulator)
    env["SLACK_UPDATES_PER_MINUTE"] = str(BUDGET_PER_MINUTE)
    jobs = 8  # each wants an edit every 0.2 s: far more than either pace allows
    alone_per_second = BUDGET_PER_MINUTE / 60

    async with running_bot(bot_settings(env)) as runtime:
        # A second replica, alive as far as the shared database knows: the lease
        # keeper's heartbeats count it from now on.
        await runtime.store.heartbeat("the-other-replica", 3600)
        runtime.replicas.seen(2)
        await _burst(fake, events_url(runtime), jobs)
        await eventually(lambda: all_done(fake, CHANNEL), 30)

    updates = [call.at for call in fake.calls_of("chat.update")]
    span = updates[-1] - updates[0]
    assert span > 1.0
    # Half of 8 a second is 4; a replica alone would send about 8.
    assert (len(updates) - 1) / span <= 0.6 * alone_per_second
    assert fake.rate_limited == 0
