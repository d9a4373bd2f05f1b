"""Discord's share of ``/metrics`` and ``/readyz``, end to end on the fake Discord.

The bot runs for real (Runtime, SQLite, the simulator, an unmodified discord.py
client); the REST calls counted in its ``/metrics`` are checked against the ones
the fake recorded, and ``/readyz`` against the fake gateway going away and back.
"""

from __future__ import annotations

import pytest

from tests.adapters.discord_harness import (
    bot_settings,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord
from tests.observability import counted, ready_becomes, until, value

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

DISCORD = {"platform": "discord"}


async def test_every_discord_rest_call_of_a_job_is_counted(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake) as runtime:
        await fake.send_slash("sora", {"prompt": "a corgi surfing at sunset"})
        [status] = await wait_for_status(fake)
        await wait_for_thread_post(fake, await thread_of(fake, status))
        await until(lambda: runtime.tracker.tracked == 0)
        samples = await counted(
            runtime.base_url,
            "sorabot_chat_api_calls_total",
            lambda: len(fake.calls),
            **DISCORD,
        )

    assert len(fake.calls) > 5  # login, command sync, the status, thread, video...
    assert value(samples, "sorabot_chat_api_rate_limited_total", **DISCORD) == 0
    assert value(samples, "sorabot_tasks_total", state="delivered") == 1
    delivered = "sorabot_delivery_duration_seconds_count"
    assert value(samples, delivered, **DISCORD) == 1


async def test_readyz_follows_the_discord_gateway_down_and_back(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake) as runtime:
        # Identified is not yet ready: READY may still be on its way.
        assert await ready_becomes(runtime.base_url, 200) == {"status": "ready"}
        await fake.stop()
        down = await ready_becomes(runtime.base_url, 503)
        await fake.start()
        await ready_becomes(runtime.base_url, 200, within=60)

    assert down["problems"] == {"discord": "not connected to the Discord gateway"}
