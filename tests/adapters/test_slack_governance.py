"""Quotas, budgets, blocked words and gates on the fake Slack, end to end.

Signed requests go to a real ``sorabot`` runtime (slack-bolt, SQLite, tracker),
the provider is the simulator over HTTP; each refusal is checked to have sent
nothing to the provider, and each answer to reach only the person who asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.governance import BLOCKED
from bot.simulator import Simulator
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import bot_env, bot_settings, events_url, running_bot
from tests.fakes.slack_payloads import HttpDelivery, slash_command

pytestmark = pytest.mark.e2e

ADMIN = "U0LISTED"


@dataclass
class Bot:
    delivery: HttpDelivery
    fake: FakeSlack
    simulator: Simulator


@pytest.fixture
def start(tmp_path, fake, simulator) -> Callable[..., Any]:
    """Starts the bot with extra variables: ``async with start(X="1") as bot``."""

    @contextlib.asynccontextmanager
    async def started(**env: str) -> AsyncIterator[Bot]:
        values = {**bot_env(tmp_path, fake, simulator), "SLACK_ADMIN_USERS": ADMIN}
        values.update(env)
        async with (
            running_bot(bot_settings(values)) as runtime,
            aiohttp.ClientSession() as session,
        ):
            yield Bot(HttpDelivery(events_url(runtime), session), fake, simulator)

    return started


async def command(bot: Bot, text: str, *, admin: bool = False, **kw: Any) -> str:
    """Run a slash command; the private answer it got through ``response_url``."""
    name = "/sora-admin" if admin else "/sora"
    if admin:
        kw.setdefault("user_id", ADMIN)
    fields = slash_command(bot.fake, text, command=name, **kw)
    ack = await bot.delivery.command(fields)
    assert ack.status == 200
    rid = fields["response_url"].rsplit("/", 1)[1]
    async with asyncio.timeout(10):
        while not bot.fake.responses[rid]:  # noqa: ASYNC110 - the fake has no event
            await asyncio.sleep(0.02)
    [answer] = bot.fake.responses[rid]
    assert answer.get("response_type") == "ephemeral"
    return str(answer["text"])


async def started(bot: Bot, text: str, count: int, **kw: Any) -> None:
    """Run ``/sora text`` and wait for its video in its thread."""
    ack = await bot.delivery.command(slash_command(bot.fake, text, **kw))
    assert ack.status == 200
    await bot.fake.wait_for("files.completeUploadExternal", count=count, within=15)


def creates(simulator: Simulator) -> list[Any]:
    return [r for r in simulator.requests if r.method == "POST"]


async def test_person_over_the_daily_quota_gets_the_sentence_and_no_create(start):
    async with start(USER_DAILY_VIDEOS="1") as bot:
        await started(bot, "a lighthouse", 1)
        refused = await command(bot, "a second lighthouse")

    assert refused.startswith(
        "You've made 1 of your 1 video today; more after 00:00 UTC, in "
    )
    assert len(creates(bot.simulator)) == 1


async def test_video_failed_by_moderation_is_refunded_and_another_can_be_made(start):
    async with start(USER_DAILY_VIDEOS="1") as bot:
        bot.simulator.inject("moderation")
        await bot.delivery.command(slash_command(bot.fake, "a storm"))
        [error] = await bot.fake.wait_for(
            "chat.postMessage", where=lambda c: bool(c.args.get("thread_ts")), within=15
        )
        await started(bot, "a calm sea", 1)

    assert "review" in str(error.args)
    assert len(creates(bot.simulator)) == 2


async def test_admin_budget_with_a_price_table_stops_the_next_video(start):
    async with start(SORA_PRICES=json.dumps([{"price": "0.60"}])) as bot:
        said = await command(bot, "limits set server-daily-budget 1", admin=True)
        await started(bot, "one", 1)
        refused = await command(bot, "two", user_id="U0BOB")
        shown = await command(bot, "", admin=True)

    assert said == "Budget per day in this workspace: 1.00 USD."
    assert refused.startswith(
        "This workspace has spent 0.60 USD of its 1.00 USD budget today and this "
        "video costs 0.60 USD; more after 00:00 UTC, in "
    )
    assert "- Budget per day: 1.00 USD; 0.60 USD spent today" in shown
    assert len(creates(bot.simulator)) == 1


@pytest.mark.parametrize("prompt", ["a DRAGON", "a dra\u200bgon", "a\u00a0dr\u00e0gon"])
async def test_blocked_word_sends_nothing(start, prompt: str):
    async with start() as bot:
        said = await command(bot, "words add dragon", admin=True)
        refused = await command(bot, prompt)
        listed = await command(bot, "words list", admin=True)

    assert said == "Blocked in this workspace: `dragon` (1 entry)."
    assert refused == BLOCKED
    assert "`dragon`" in listed
    assert bot.simulator.requests == []
    assert bot.fake.calls_of("chat.postMessage") == []


async def test_regular_expression_entries_are_checked_when_added(start):
    async with start() as bot:
        bad = await command(bot, "words add re:(a", admin=True)
        good = await command(bot, "words add re:b&lt;a+d", admin=True)
        refused = await command(bot, "so b<aaad")

    assert bad.startswith("That is not a valid regular expression: missing ), ")
    assert good == "Blocked in this workspace: `re:b&lt;a+d` (1 entry)."
    assert refused == BLOCKED
    assert bot.simulator.requests == []


async def test_person_outside_the_allowed_channel_is_told_where_it_works(start):
    async with start() as bot:
        said = await command(bot, "channels allow <#C0STUDIO|studio>", admin=True)
        refused = await command(bot, "a lighthouse")
        await started(bot, "a lighthouse", 1, channel_id="C0STUDIO")

    assert said == "/sora now works only in <#C0STUDIO> in this workspace."
    assert refused == "Sorry, /sora works only in <#C0STUDIO> in this workspace."
    assert len(creates(bot.simulator)) == 1


async def test_only_allowed_people_and_user_group_members_may_use_sora(start, fake):
    fake.usergroups["S0ARTISTS"] = ["U0CAROL"]
    async with start() as bot:
        said = await command(
            bot, "users allow <@U0BOB|bob> <!subteam^S0ARTISTS|@artists>", admin=True
        )
        refused = await command(bot, "a lighthouse")
        await started(bot, "by bob", 1, user_id="U0BOB")
        await started(bot, "by carol", 2, user_id="U0CAROL")

    assert said == (
        "/sora is now open only to <@U0BOB> or <!subteam^S0ARTISTS> in this workspace."
    )
    assert refused == (
        "Sorry, /sora is only open to <@U0BOB> or <!subteam^S0ARTISTS> in this "
        "workspace."
    )
    assert [r.body["prompt"] for r in creates(bot.simulator)] == ["by bob", "by carol"]


async def test_non_admin_cannot_change_limits(start):
    async with start(USER_DAILY_VIDEOS="1") as bot:
        denied = await command(
            bot, "limits set user-daily-videos none", admin=True, user_id="U0ALICE"
        )
        await started(bot, "one", 1)
        refused = await command(bot, "two")

    assert "only workspace admins and owners" in denied
    assert refused.startswith("You've made 1 of your 1 video today")
