"""Slack offers and claims only what the configured provider's profile allows.

Per dialect, the real bot (slack-bolt over HTTP) against the fake Slack and the
simulator: the ``/sora`` form, the flags, private mode and what Remix does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from adapters.slack.blocks import REMIX_ACTION
from adapters.slack.convert import slack_chat
from bot.rendering import PRIVATE_MODE_NOTE
from bot.runtime import Runtime
from bot.simulator import Simulator
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    bot_env,
    bot_settings,
    buttons,
    events_url,
    eventually,
    running_bot,
    status_messages,
    wait_for_responses,
)
from tests.fakes.slack_payloads import (
    CHANNEL,
    HttpDelivery,
    block_action,
    form_values,
    slash_command,
    view_submission,
)

pytestmark = pytest.mark.e2e

BOTH = ["sora-2", "sora-2-pro"]
# dialect -> (models, lengths, option boxes or None, styles or None)
FORMS: dict[str, tuple[list[str], list[str], list[str] | None, list[str] | None]] = {
    "v2": (BOTH, ["10", "15", "25"], ["hd", "private"], None),
    "sora": (["turbo"], ["5", "10"], None, ["natural"]),
    "unified": (BOTH, ["10", "15"], None, None),
    "openai": (BOTH, ["10", "15"], ["hd"], None),
    "video-create": (
        BOTH,
        ["10", "15", "25"],
        ["hd", "private"],
        ["thanksgiving", "comic", "news", "selfie", "nostalgic", "anime"],
    ),
}
PRIVATE_DIALECTS = ["v2", "video-create"]


@dataclass
class Bot:
    runtime: Runtime
    delivery: HttpDelivery
    fake: FakeSlack
    simulator: Simulator


BotFor = Callable[[str], AbstractAsyncContextManager[Bot]]


@pytest.fixture
def bot_for(tmp_path, fake, simulator) -> BotFor:
    @asynccontextmanager
    async def start(dialect: str) -> AsyncIterator[Bot]:
        env = {**bot_env(tmp_path, fake, simulator), "SORA_API_DIALECT": dialect}
        async with (
            running_bot(bot_settings(env)) as runtime,
            aiohttp.ClientSession() as session,
        ):
            yield Bot(
                runtime, HttpDelivery(events_url(runtime), session), fake, simulator
            )

    return start


def _blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def _options(block: dict[str, Any]) -> list[str]:
    return [o["value"] for o in block["element"]["options"]]


async def _admin(bot: Bot, text: str) -> dict[str, Any]:
    bot.fake.add_user("U0BOSS", admin=True)
    await bot.delivery.command(
        slash_command(bot.fake, text, command="/sora-admin", user_id="U0BOSS")
    )
    return (await wait_for_responses(bot.fake))[-1]


async def _finished(bot: Bot, count: int = 1) -> None:
    await bot.fake.wait_for("files.completeUploadExternal", count=count, within=15)


@pytest.mark.parametrize("dialect", sorted(FORMS))
async def test_the_form_offers_only_what_the_provider_supports(dialect, bot_for):
    models, lengths, extras, styles = FORMS[dialect]

    async with bot_for(dialect) as bot:
        await bot.delivery.command(slash_command(bot.fake, ""))
        await bot.fake.wait_for("views.open")

    [view] = bot.fake.views.values()
    blocks = _blocks(view)
    assert _options(blocks["model"]) == models
    assert _options(blocks["seconds"]) == lengths
    assert (_options(blocks["extras"]) if "extras" in blocks else None) == extras
    assert (_options(blocks["style"]) if "style" in blocks else None) == styles


@pytest.mark.parametrize(
    ("dialect", "flag"),
    [
        ("sora", "--15s"),
        ("sora", "--hd"),
        ("unified", "--25s"),
        ("openai", "--private"),
    ],
)
async def test_a_flag_the_provider_cannot_do_gets_the_syntax_and_starts_nothing(
    dialect, flag, bot_for
):
    async with bot_for(dialect) as bot:
        ack = await bot.delivery.command(slash_command(bot.fake, f"a corgi {flag}"))
        await asyncio.sleep(0.3)

    assert f"`{flag}` is not available here" in ack.body["text"]
    assert "/sora &lt;prompt&gt;" in ack.body["text"]
    assert bot.fake.calls_of("chat.postMessage") == []
    assert bot.simulator.requests == []


async def test_a_style_chosen_in_the_form_reaches_the_provider(bot_for):
    async with bot_for("video-create") as bot:
        await bot.delivery.command(slash_command(bot.fake, ""))
        await bot.fake.wait_for("views.open")
        [view] = bot.fake.views.values()
        values = form_values("a comic cat")
        values["style"] = {
            "value": {"type": "static_select", "selected_option": {"value": "comic"}}
        }
        await bot.delivery.interactive(view_submission(bot.fake, view, values))
        await _finished(bot)

    [create] = bot.simulator.requests
    assert create.body["style"] == "comic"


@pytest.mark.parametrize("dialect", PRIVATE_DIALECTS)
async def test_private_on_sends_private_true_on_every_create(dialect, bot_for):
    async with bot_for(dialect) as bot:
        answer = await _admin(bot, "private on")
        await bot.delivery.command(slash_command(bot.fake, "a corgi"))
        await bot.delivery.command(slash_command(bot.fake, "a beagle"))
        await _finished(bot, count=2)

    assert "Private mode in this workspace is now on" in answer["text"]
    assert "hides nothing in this chat" in answer["text"]
    assert [r.body["private"] for r in bot.simulator.requests] == [True, True]
    for status in status_messages(bot.fake, CHANNEL):
        assert PRIVATE_MODE_NOTE in str(status.blocks)


@pytest.mark.parametrize("dialect", sorted(set(FORMS) - set(PRIVATE_DIALECTS)))
async def test_private_on_tells_the_admin_it_is_not_available(dialect, bot_for):
    async with bot_for(dialect) as bot:
        answer = await _admin(bot, "private on")
        model = bot.runtime.service.default_model
        await bot.delivery.command(slash_command(bot.fake, "a corgi"))
        await _finished(bot)
        chat = slack_chat(bot.fake.team_id, CHANNEL)
        private_now = await bot.runtime.service.private_mode(chat)

    assert "Private mode stays off" in answer["text"]
    assert "cannot keep videos unpublished" in answer["text"]
    assert not private_now
    [create] = bot.simulator.requests
    assert "private" not in create.body
    assert create.body["model"] == model
    [status] = status_messages(bot.fake, CHANNEL)
    assert PRIVATE_MODE_NOTE not in str(status.blocks)


@pytest.mark.parametrize(
    ("dialect", "label"), [("sora", "Remix"), ("v2", "New video, same settings")]
)
async def test_the_remix_button_says_what_it_does(dialect, label, bot_for):
    async with bot_for(dialect) as bot:
        await bot.delivery.command(slash_command(bot.fake, "a corgi"))
        await _finished(bot)
        [status] = status_messages(bot.fake, CHANNEL)
        await eventually(lambda: REMIX_ACTION in buttons(status.blocks))

    [remix] = [
        e
        for b in status.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == REMIX_ACTION
    ]
    assert remix["text"]["text"] == label


async def test_remix_on_sora_sends_the_providers_remix(bot_for):
    async with bot_for("sora") as bot:
        await bot.delivery.command(slash_command(bot.fake, "a corgi"))
        await _finished(bot)
        [status] = status_messages(bot.fake, CHANNEL)
        await eventually(lambda: REMIX_ACTION in buttons(status.blocks))
        task_id = buttons(status.blocks)[REMIX_ACTION]
        await bot.delivery.interactive(block_action(bot.fake, REMIX_ACTION, task_id))
        await eventually(lambda: len(bot.fake.views) == 1)
        [view] = bot.fake.views.values()
        values = {"prompt": {"value": {"type": "plain_text_input", "value": "at dusk"}}}
        await bot.delivery.interactive(view_submission(bot.fake, view, values))
        await eventually(lambda: len(bot.simulator.requests) == 2)

    assert view["title"]["text"] == "Remix"
    remix = bot.simulator.requests[-1]
    assert remix.body["operation"] == "remix"
    assert remix.body["prompt"] == "at dusk"
    assert remix.body["sdedit"]["source_generation_id"].startswith("gen_")
