"""Runs the whole bot against the fake Discord and a test-owned simulator.

The bot is the real thing: ``Runtime`` (SQLite file, tracker, provider client over
HTTP) plus ``adapters.discord.attach`` with an unmodified discord.py client that
logs into ``tests.fakes.discord`` on 127.0.0.1. Nothing in between is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from adapters.discord import EDIT_INTERVAL as PRODUCTION_EDIT_INTERVAL
from adapters.discord import attach
from bot.config import Settings
from bot.runtime import Runtime
from bot.simulator import Simulator
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage

SIM_KEY = "sim-key"
SAMPLE_MP4 = Path(__file__).resolve().parents[2] / "bot/simulator/assets/sample.mp4"
# Small enough that every status edit of a 1 s job shows up, large enough to coalesce.
EDIT_INTERVAL = 0.2
EDIT_ROUTE = ("PATCH", "/channels/{channel_id}/messages/{message_id}")


def at_harness_pace(fake: FakeDiscord) -> FakeDiscord:
    """Shorten the fake's per-channel edit window as much as ``EDIT_INTERVAL``
    shortens the bot's edit interval (0.2 s for 3 s).

    The bot then stays as far under Discord's edit limit as it does in production.
    At Discord's real 5 s window, the 0.2 s pace exhausts a channel's five edits
    within a job or two and discord.py holds the next edit back for the rest of
    the window: about 4 s added to every test with a second job in a channel.
    """
    limit, per = fake.limiter.route_limits[EDIT_ROUTE]
    fake.limiter.route_limits[EDIT_ROUTE] = (
        limit,
        per * EDIT_INTERVAL / PRODUCTION_EDIT_INTERVAL,
    )
    return fake


def bot_env(
    tmp_path: Path, fake: FakeDiscord, simulator: Simulator, dialect: str = "openai"
) -> dict[str, str]:
    """The variables an operator would set, pointing at the fakes."""
    return {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sorabot.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "SORA_API_URL": simulator.base_url,
        "SORA_API_KEY": SIM_KEY,
        "SORA_API_DIALECT": dialect,
        "POLL_INTERVAL": "0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
    }


def bot_settings(env: dict[str, str]) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, fake: FakeDiscord, *, edit_interval: float = EDIT_INTERVAL
) -> AsyncIterator[Runtime]:
    """The bot, connected and with its commands synced; closed on exit."""
    identified = fake.gateway.identify_count
    async with Runtime(settings) as runtime, contextlib.AsyncExitStack() as stack:
        await attach(runtime, stack, edit_interval=edit_interval)
        await runtime.start()
        await fake.wait_for_bot(after=identified)
        yield runtime


async def eventually(condition: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll ``condition`` (for state outside the fake, e.g. the simulator's)."""
    async with asyncio.timeout(within):
        while not (result := condition()):  # noqa: ASYNC110 - nothing to await on
            await asyncio.sleep(0.02)
    return result


# -- reading what members would see ------------------------------------------------


def status_messages(fake: FakeDiscord) -> list[FakeMessage]:
    """The bot's public status messages in the default channel."""
    return [
        m
        for m in fake.messages(fake.channel_id)
        if m.author["id"] == fake.bot_user["id"] and m.embeds
    ]


def progress_of(payload: dict[str, Any]) -> str:
    """The Progress field of a status embed payload."""
    embed = payload["embeds"][0]
    return next(f["value"] for f in embed["fields"] if f["name"] == "Progress")


def custom_ids(message: FakeMessage | dict[str, Any]) -> list[str]:
    """The button ids on a message now, or in a message payload (as first sent)."""
    rows = (
        message.get("components") or []
        if isinstance(message, dict)
        else (message.components)
    )
    return [
        c["custom_id"]
        for row in rows
        for c in row.get("components", [])
        if "custom_id" in c
    ]


def reply_text(inter: FakeInteraction) -> str:
    """What the member privately saw: the filled-in loading message or a reply."""
    texts = [inter.content or ""] + [m.content for m in inter.followups]
    return "\n".join(t for t in texts if t)


def button(message: FakeMessage, kind: str) -> str:
    """The custom id of the message's ``kind`` button (retry, remix, cancel)."""
    return next(c for c in custom_ids(message) if c.startswith(f"sora:{kind}:"))


async def wait_for_thread_post(
    fake: FakeDiscord, thread_id: str, count: int = 1, within: float = 15.0
) -> list[FakeMessage]:
    """The thread's messages once it has at least ``count``."""
    return await fake.wait_until(
        lambda: (ms := fake.messages(thread_id)) and len(ms) >= count and ms,
        within,
    )


async def wait_for_status(
    fake: FakeDiscord, count: int = 1, within: float = 10.0
) -> list[FakeMessage]:
    return await fake.wait_until(
        lambda: len(ms := status_messages(fake)) >= count and ms, within
    )


async def thread_of(fake: FakeDiscord, status: FakeMessage) -> str:
    """The id of the thread opened on a status message, once it is open."""
    thread_id: str = await fake.wait_until(lambda: status.thread_id)
    return thread_id


def as_json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)
