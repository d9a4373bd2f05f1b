"""Runs the whole bot against the fake Slack and a test-owned simulator.

The bot is the real thing: ``Runtime`` (SQLite file, tracker, provider client over
HTTP) plus ``adapters.slack.attach`` with unmodified slack-bolt and slack-sdk aimed
at ``tests.fakes.slack`` on 127.0.0.1. Nothing in between is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from adapters.slack import EVENTS_PATH, attach
from bot.config import Settings
from bot.runtime import Runtime
from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.slack_payloads import SIGNING_SECRET

SIM_KEY = "sim-key"
SAMPLE_MP4 = Path(__file__).resolve().parents[2] / "bot/simulator/assets/sample.mp4"
# Short enough that a 1 s job shows several states, long enough to coalesce.
EDIT_INTERVAL = 0.2


def bot_env(
    tmp_path: Path,
    fake: FakeSlack,
    simulator: Simulator,
    *,
    http: bool = True,
    socket: bool = False,
) -> dict[str, str]:
    """The variables an operator would set, pointing at the fakes."""
    env = {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sorabot.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "SORA_API_URL": simulator.base_url,
        "SORA_API_KEY": SIM_KEY,
        "SORA_API_DIALECT": "openai",
        "POLL_INTERVAL": "0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        # Slack's real pace (40 a minute) would hide every state of a 1 s job.
        "SLACK_UPDATES_PER_MINUTE": "1200",
    }
    if http:
        env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
    if socket:
        env["SLACK_APP_TOKEN"] = fake.app_token
    return env


def bot_settings(env: dict[str, str]) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, *, edit_interval: float = EDIT_INTERVAL, **options: Any
) -> AsyncIterator[Runtime]:
    """The bot, serving HTTP (and connected over Socket Mode if configured);
    ``options`` go to ``attach`` (e.g. a small ``upload_limit``)."""
    async with Runtime(settings) as runtime, contextlib.AsyncExitStack() as stack:
        await attach(runtime, stack, edit_interval=edit_interval, **options)
        await runtime.start()
        yield runtime


def events_url(runtime: Runtime) -> str:
    return f"{runtime.base_url}{EVENTS_PATH}"


# -- reading what users would see ---------------------------------------------------


def status_messages(fake: FakeSlack, channel: str) -> list[Message]:
    """The bot's status messages in ``channel`` (top-level, with an actions block)."""
    return [
        m
        for m in fake.channel_messages(channel)
        if any(b.get("type") == "actions" for b in m.blocks)
    ]


def headline(blocks: list[dict[str, Any]]) -> str:
    """The status line of a status message: ``*Generating ██░░ 20% · 1 s*``."""
    return str(blocks[0]["text"]["text"]).strip("*")


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """action_id -> value of the message's buttons."""
    return {
        element["action_id"]: element["value"]
        for block in blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    }


async def wait_for_responses(
    fake: FakeSlack, count: int = 1, within: float = 10.0
) -> list[dict[str, Any]]:
    """The messages sent to ``response_url``s, once there are ``count``."""

    async def answered() -> list[dict[str, Any]]:
        while True:
            found = fake.responses_sent()
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(answered(), within)


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def all_done(fake: FakeSlack, channel: str) -> bool:
    """Every status message in ``channel`` says Done."""
    return all(
        headline(m.blocks).startswith("Done") for m in status_messages(fake, channel)
    )
