"""HTTP mode trusts only requests signed with the app's signing secret.

Slack signs every request (HMAC-SHA256 over ``v0:{timestamp}:{body}``) and bolt
verifies it; a forged or replayed request must get 401 and leave no trace: no job,
no provider request, not even a Web API call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.runtime import Runtime
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    bot_env,
    bot_settings,
    events_url,
    running_bot,
)
from tests.fakes.slack_payloads import HttpDelivery, signed_headers, slash_command

pytestmark = pytest.mark.e2e

# Seconds a simulated job takes (read by the shared ``simulator`` fixture).
SIM_DURATION = 0.5


@pytest.fixture
async def runtime(tmp_path, fake, simulator) -> AsyncIterator[Runtime]:
    async with running_bot(bot_settings(bot_env(tmp_path, fake, simulator))) as rt:
        yield rt


def _body(fake: FakeSlack) -> str:
    return urlencode(slash_command(fake, "a corgi nobody asked for"))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed_headers(body, "not-the-secret"), id="forged"),
        pytest.param(
            lambda body: signed_headers(body, timestamp=int(time.time()) - 600),
            id="stale",
        ),
        pytest.param(
            lambda body: {"Content-Type": "application/x-www-form-urlencoded"},
            id="unsigned",
        ),
    ],
)
async def test_badly_signed_command_gets_401_and_nothing_happens(
    runtime, fake, simulator, headers
):
    body = _body(fake)

    async with aiohttp.ClientSession() as session:
        ack = await HttpDelivery(events_url(runtime), session).post(
            body, headers=headers(body)
        )

    assert ack.status == 401
    await asyncio.sleep(0.3)
    assert fake.calls == []
    assert simulator.requests == []


async def test_body_changed_after_signing_gets_401(runtime, fake, simulator):
    body = _body(fake)
    headers = signed_headers(body)

    async with aiohttp.ClientSession() as session:
        ack = await HttpDelivery(events_url(runtime), session).post(
            body.replace("nobody", "somebody"), headers=headers
        )

    assert ack.status == 401
    assert fake.calls == []


async def test_correctly_signed_command_is_accepted(runtime, fake, simulator):
    async with aiohttp.ClientSession() as session:
        ack = await HttpDelivery(events_url(runtime), session).command(
            slash_command(fake, "a corgi somebody asked for")
        )

    assert ack.status == 200
    await fake.wait_for("files.completeUploadExternal", within=15)
    assert len(simulator.requests) == 1
