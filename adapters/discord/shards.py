"""Which shards this process runs, and how fast they may IDENTIFY.

Discord requires a bot in more than 2,500 servers to split its gateway traffic
into shards: shard ``i`` of ``n`` carries the events of the servers whose
``(guild_id >> 22) % n`` is ``i``. Several processes can share the shards
(``DISCORD_SHARD_IDS``); they must agree on the count, so ``DISCORD_SHARD_COUNT``
fixes it, and without it every process asks Discord (``GET /gateway/bot``).
Posting and editing go through REST, so any process can drive any task; only
commands and buttons arrive on the shard of their server.
"""

from __future__ import annotations

import asyncio
import time

from bot.config import Settings
from bot.errors import ConfigError

# Discord lets each rate-limit bucket (shard id % max_concurrency) IDENTIFY once
# per this many seconds.
IDENTIFY_WINDOW = 5.0


def shard_plan(settings: Settings, recommended: int) -> tuple[int, tuple[int, ...]]:
    """The shard count and this process's shard ids; ``recommended`` is Discord's
    count from ``/gateway/bot``."""
    count = settings.discord_shard_count or recommended
    ids = settings.discord_shard_ids or tuple(range(count))
    beyond = [i for i in ids if i >= count]
    if beyond:
        # Only reachable with the count left to Discord: config.py checks the rest.
        raise ConfigError(
            f"DISCORD_SHARD_IDS names shard {beyond[0]}, but Discord recommends "
            f"{count} shard(s); set DISCORD_SHARD_COUNT on every replica."
        )
    return count, ids


class IdentifyPacer:
    """Spaces IDENTIFYs as Discord's ``session_start_limit`` allows.

    discord.py waits 5 s before every IDENTIFY but the first; Discord allows
    ``max_concurrency`` buckets to IDENTIFY at once, so a large bot (16 and more)
    starts its shards that much faster, and a lone reconnect need not wait.
    """

    def __init__(self, max_concurrency: int) -> None:
        self._buckets = max(1, max_concurrency)
        self._last: dict[int, float] = {}

    async def wait(self, shard_id: int | None) -> None:
        bucket = (shard_id or 0) % self._buckets
        last = self._last.get(bucket)
        if last is not None:
            await asyncio.sleep(max(0.0, last + IDENTIFY_WINDOW - time.monotonic()))
        self._last[bucket] = time.monotonic()
