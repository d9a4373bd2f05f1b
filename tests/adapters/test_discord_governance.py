"""Quotas, budgets, blocked words and gates on the fake Discord, end to end.

The bot is real (``sorabot``'s runtime and discord.py against the fake Discord),
the provider is the simulator over HTTP; every refusal is checked to have sent
nothing to the provider.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.governance import BLOCKED
from tests.adapters.discord_harness import (
    bot_settings,
    reply_text,
    running_bot,
    status_messages,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import MODERATOR_PERMISSIONS, USER_PERMISSIONS, FakeDiscord

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


def creates(simulator: Any) -> list[Any]:
    return [r for r in simulator.requests if r.method == "POST"]


def sub(group: str, name: str, **options: tuple[int, Any]) -> list[dict[str, Any]]:
    """``/sora-settings <group> <name> option:value`` as Discord sends it."""
    values = [{"name": k, "type": t, "value": v} for k, (t, v) in options.items()]
    return [
        {
            "name": group,
            "type": 2,
            "options": [{"name": name, "type": 1, "options": values}],
        }
    ]


async def moderator(fake: FakeDiscord, options: list[dict[str, Any]], **kw: Any) -> str:
    inter = await fake.send_slash(
        "sora-settings",
        options,
        user="mod",
        member_permissions=MODERATOR_PERMISSIONS,
        **kw,
    )
    await fake.wait_until(lambda: reply_text(inter))
    assert inter.ephemeral
    return reply_text(inter)


async def sora(fake: FakeDiscord, prompt: str, **kw: Any) -> str:
    inter = await fake.send_slash("sora", {"prompt": prompt}, **kw)
    await fake.wait_until(lambda: reply_text(inter), 10)
    assert inter.ephemeral
    return reply_text(inter)


async def delivered(fake: FakeDiscord, number: int) -> None:
    status = (await wait_for_status(fake, number))[number - 1]
    await wait_for_thread_post(fake, await thread_of(fake, status))


async def test_member_over_the_daily_quota_gets_the_sentence_and_no_create(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings({**env, "USER_DAILY_VIDEOS": "1"}), fake):
        assert (await sora(fake, "a lighthouse")).startswith("Started")
        await delivered(fake, 1)
        refused = await sora(fake, "a second lighthouse")

    assert refused.startswith(
        "You've made 1 of your 1 video today; more after 00:00 UTC, in "
    )
    assert len(creates(simulator)) == 1
    assert len(status_messages(fake)) == 1


async def test_video_failed_by_moderation_is_refunded_and_another_can_be_made(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings({**env, "USER_DAILY_VIDEOS": "1"}), fake):
        await sora(fake, "a storm #moderation")
        status = (await wait_for_status(fake))[0]
        [error] = await wait_for_thread_post(fake, await thread_of(fake, status))
        assert "content review" in error.content
        again = await sora(fake, "a calm sea")
        await delivered(fake, 2)

    assert "Started" in again
    assert len(creates(simulator)) == 2


async def test_moderator_budget_with_a_price_table_stops_the_next_video(
    fake: FakeDiscord, env, simulator
):
    prices = json.dumps([{"price": "0.60"}])
    async with running_bot(bot_settings({**env, "SORA_PRICES": prices}), fake):
        said = await moderator(
            fake,
            sub("limits", "set", limit=(3, "server-daily-budget"), value=(3, "1")),
        )
        await sora(fake, "one")
        await delivered(fake, 1)
        refused = await sora(fake, "two", user="bob")
        shown = await moderator(fake, [{"name": "show", "type": 1, "options": []}])

    assert said == "Budget per day on this server: 1.00 USD."
    assert refused.startswith(
        "This server has spent 0.60 USD of its 1.00 USD budget today and this video "
        "costs 0.60 USD; more after 00:00 UTC, in "
    )
    assert "- Budget per day: 1.00 USD; 0.60 USD spent today" in shown
    assert len(creates(simulator)) == 1


@pytest.mark.parametrize("prompt", ["a DRAGON", "a dra\u200bgon", "a Dràgon"])
async def test_blocked_word_sends_nothing_and_tells_only_the_member(
    fake: FakeDiscord, env, simulator, prompt: str
):
    async with running_bot(bot_settings(env), fake):
        said = await moderator(fake, sub("words", "add", entry=(3, "dragon")))
        refused = await sora(fake, prompt)
        listed = await moderator(fake, sub("words", "list"))

    assert said == "Blocked on this server: `dragon` (1 entry)."
    assert refused == BLOCKED
    assert "`dragon`" in listed
    assert simulator.requests == []
    assert fake.messages(fake.channel_id) == []


async def test_invalid_regular_expression_is_refused_with_its_error(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        said = await moderator(fake, sub("words", "add", entry=(3, "re:(a")))
        await sora(fake, "a")
        await delivered(fake, 1)

    assert said.startswith("That is not a valid regular expression: missing ), ")
    assert len(creates(simulator)) == 1


async def test_member_outside_the_allowed_channel_is_told_where_it_works(
    fake: FakeDiscord, env, simulator
):
    studio = fake.add_channel("studio")
    resolved = {
        "channels": {
            studio: {
                **fake.channel_payload(studio),
                "permissions": str(USER_PERMISSIONS),
            }
        }
    }
    async with running_bot(bot_settings(env), fake):
        said = await moderator(
            fake, sub("channels", "allow", channel=(7, studio)), resolved=resolved
        )
        refused = await sora(fake, "a lighthouse")
        started = await sora(fake, "a lighthouse", channel_id=studio)

    assert said == f"/sora now works only in <#{studio}> on this server."
    assert refused == f"Sorry, /sora works only in <#{studio}> on this server."
    assert "Started" in started
    assert len(creates(simulator)) == 1


async def test_a_thread_of_the_allowed_channel_is_allowed_too(
    fake: FakeDiscord, env, simulator
):
    studio = fake.add_channel("studio")
    resolved = {
        "channels": {
            studio: {
                **fake.channel_payload(studio),
                "permissions": str(USER_PERMISSIONS),
            }
        }
    }
    async with running_bot(bot_settings(env), fake):
        await moderator(
            fake, sub("channels", "allow", channel=(7, studio)), resolved=resolved
        )
        assert "Started" in await sora(fake, "a lighthouse", channel_id=studio)
        thread = await fake.wait_until(
            lambda: next(
                (t for t, th in fake.threads.items() if th.parent_id == studio), None
            )
        )
        in_thread = await sora(fake, "the lighthouse at night", channel_id=thread)

    assert "Started" in in_thread
    assert [c.body["prompt"] for c in creates(simulator)] == [
        "a lighthouse",
        "the lighthouse at night",
    ]


async def test_member_without_the_allowed_role_is_refused(
    fake: FakeDiscord, env, simulator
):
    creators = fake.role_id("creators")
    fake.give_role("bob", "creators")
    role = {
        "id": creators,
        "name": "Creators",
        "color": 0,
        "hoist": False,
        "position": 3,
        "permissions": str(USER_PERMISSIONS),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    async with running_bot(bot_settings(env), fake):
        said = await moderator(
            fake,
            sub("roles", "allow", role=(8, creators)),
            resolved={"roles": {creators: role}},
        )
        refused = await sora(fake, "a lighthouse")
        started = await sora(fake, "a lighthouse", user="bob")

    assert said == (
        f"/sora is now open only to members with the <@&{creators}> role "
        "on this server."
    )
    assert refused == (
        f"Sorry, /sora is only for members with the <@&{creators}> role on this server."
    )
    assert "Started" in started
    assert len(creates(simulator)) == 1


async def test_member_without_manage_server_cannot_change_limits(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings({**env, "USER_DAILY_VIDEOS": "1"}), fake):
        inter = await fake.send_slash(
            "sora-settings",
            sub("limits", "set", limit=(3, "user-daily-videos"), value=(3, "none")),
        )
        await fake.wait_until(lambda: "Manage Server" in reply_text(inter))
        await sora(fake, "one")
        await delivered(fake, 1)
        refused = await sora(fake, "two")

    assert refused.startswith("You've made 1 of your 1 video today")
    assert len(creates(simulator)) == 1
