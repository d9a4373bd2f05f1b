"""Discord sharding on the fake gateway: which shards a replica identifies with, and
``/sora`` from a server on either shard (its events arrive on that shard only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from bot.simulator import Simulator
from tests.adapters.discord_harness import (
    bot_env,
    bot_settings,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_gateway import shard_of

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

# Two servers: (id >> 22) % 2 puts the first on shard 0 and the second on shard 1.
GUILD_ON_SHARD = {0: "1100000000004194306", 1: "1100000000000000002"}


async def _identified(fake: FakeDiscord, settings: Settings, count: int) -> list:
    async with running_bot(settings, fake):
        await fake.wait_until(lambda: len(fake.gateway.identified_shards) >= count)
    return sorted(fake.gateway.identified_shards)


async def test_shard_count_2_identifies_shards_0_and_1_of_2(fake, env):
    settings = bot_settings({**env, "DISCORD_SHARD_COUNT": "2"})

    assert await _identified(fake, settings, 2) == [(0, 2), (1, 2)]


async def test_without_a_count_the_bot_runs_the_shards_discord_recommends(fake, env):
    fake.recommended_shards = 3

    identified = await _identified(fake, bot_settings(env), 3)

    assert identified == [(0, 3), (1, 3), (2, 3)]


async def test_shard_ids_1_runs_only_shard_1_and_serves_its_server(fake, env):
    settings = bot_settings(
        {**env, "DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1"}
    )
    assert shard_of(fake.guild_id, 2) == 1

    async with running_bot(settings, fake):
        await fake.send_slash("sora", {"prompt": "a corgi on shard one"})
        [status] = await wait_for_status(fake)
        await wait_for_thread_post(fake, await thread_of(fake, status))

    assert fake.gateway.identified_shards == [(1, 2)]


@pytest.fixture(params=[0, 1], ids=["shard-0", "shard-1"])
async def sharded_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guild_id=GUILD_ON_SHARD[request.param]) as fake:
        yield fake


async def test_sora_from_a_server_on_either_shard_ends_with_its_video(
    sharded_fake: FakeDiscord, tmp_path: Path, simulator: Simulator
):
    fake = sharded_fake
    env = bot_env(tmp_path, fake, simulator)
    settings = bot_settings({**env, "DISCORD_SHARD_COUNT": "2"})

    async with running_bot(settings, fake):
        inter = await fake.send_slash("sora", {"prompt": "a corgi surfing at sunset"})
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))

    assert inter.deferred
    assert fake.attachment_bytes(video)
    assert sorted(fake.gateway.identified_shards) == [(0, 2), (1, 2)]


async def test_shard_ids_beyond_discords_recommendation_are_refused(fake, env):
    fake.recommended_shards = 2
    settings = bot_settings({**env, "DISCORD_SHARD_IDS": "0-2"})

    with pytest.raises(ConfigError, match="DISCORD_SHARD_IDS names shard 2"):
        async with running_bot(settings, fake):
            pass

    assert fake.gateway.identified_shards == []
