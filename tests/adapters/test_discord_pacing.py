"""Replicas split Discord's per-channel edit pace: with two alive, each edits a
status message half as often (what the fake Discord received)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from bot.simulator import Simulator
from tests.adapters.discord_harness import (
    EDIT_INTERVAL,
    SIM_KEY,
    bot_env,
    bot_settings,
    progress_of,
    running_bot,
    wait_for_status,
)
from tests.fakes.discord import FakeDiscord

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


async def test_with_two_replicas_alive_status_edits_come_half_as_often(
    tmp_path, fake: FakeDiscord
):
    # Progress changes at every 0.1 s poll: an edit is always waiting.
    async with Simulator(2.0, api_key=SIM_KEY) as simulator:
        settings = bot_settings(bot_env(tmp_path, fake, simulator))
        async with running_bot(settings, fake) as runtime:
            # A second replica, alive as far as the shared database knows: the lease
            # keeper's heartbeats count it from now on.
            await runtime.store.heartbeat("the-other-replica", 3600)
            runtime.replicas.seen(2)
            await fake.send_slash("sora", {"prompt": "a slow tide"})
            [status] = await wait_for_status(fake)
            await fake.wait_until(
                lambda: status.edits and "Done" in progress_of(status.edits[-1]), 15
            )

    path = f"/channels/{status.channel_id}/messages/{status.id}"
    edits = [c.at for c in fake.calls if c.method == "PATCH" and c.path == path]
    gaps = [later - earlier for earlier, later in itertools.pairwise(edits)]
    assert len(gaps) >= 3
    # Twice EDIT_INTERVAL (0.4 s) apart while it runs; a replica alone edits every
    # 0.2 s. The median, because the final edit waits for the upload.
    assert statistics.median(gaps) >= 1.7 * EDIT_INTERVAL
