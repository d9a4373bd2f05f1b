"""``/sora-settings`` and ``/sora-info``: moderators in control, checked by the bot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.discord_harness import (
    bot_env,
    bot_settings,
    eventually,
    reply_text,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import MODERATOR_PERMISSIONS, USER_PERMISSIONS, FakeDiscord

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


@pytest.fixture
def v2_env(tmp_path, fake, simulator) -> dict[str, str]:
    """A dialect whose request body carries ``private``."""
    return bot_env(tmp_path, fake, simulator, dialect="v2")


def private_mode(mode: str, channel: dict[str, Any] | None = None) -> list[dict]:
    options: list[dict[str, Any]] = [{"name": "mode", "type": 3, "value": mode}]
    if channel is not None:
        options.append({"name": "channel", "type": 7, "value": channel["id"]})
    return [{"name": "private-mode", "type": 1, "options": options}]


def resolved_channel(fake: FakeDiscord, channel_id: str) -> dict[str, Any]:
    payload = {**fake.channel_payload(channel_id), "permissions": str(USER_PERMISSIONS)}
    return {"channels": {channel_id: payload}}


async def sora_and_wait(fake: FakeDiscord, number: int, **kwargs: Any) -> None:
    await fake.send_slash("sora", {"prompt": "a lighthouse in fog"}, **kwargs)
    status = (await wait_for_status(fake, number))[number - 1]
    await wait_for_thread_post(fake, await thread_of(fake, status))


async def test_member_without_manage_server_cannot_turn_private_mode_on(
    fake: FakeDiscord, v2_env, simulator
):
    async with running_bot(bot_settings(v2_env), fake):
        inter = await fake.send_slash("sora-settings", private_mode("on"))
        await fake.wait_until(lambda: "Manage Server" in reply_text(inter))
        await sora_and_wait(fake, 1)

    assert inter.ephemeral
    assert simulator.requests[0].body["private"] is False


async def test_private_mode_sends_private_true_to_provider(
    fake: FakeDiscord, v2_env, simulator
):
    async with running_bot(bot_settings(v2_env), fake):
        inter = await fake.send_slash(
            "sora-settings",
            private_mode("on"),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(
            lambda: "Private mode in this server: on" in reply_text(inter)
        )
        await sora_and_wait(fake, 1)

    [request] = simulator.requests
    assert request.body["private"] is True
    [status] = await wait_for_status(fake)
    fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
    assert "not published and cannot be remixed" in fields["Private"]


async def test_private_mode_for_one_channel_leaves_the_others_alone(
    fake: FakeDiscord, v2_env, simulator
):
    quiet = fake.add_channel("quiet-room")

    async with running_bot(bot_settings(v2_env), fake):
        inter = await fake.send_slash(
            "sora-settings",
            private_mode("on", {"id": quiet}),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
            resolved=resolved_channel(fake, quiet),
        )
        await fake.wait_until(lambda: f"<#{quiet}>: on" in reply_text(inter))
        await sora_and_wait(fake, 1)
        await fake.send_slash("sora", {"prompt": "a quiet lake"}, channel_id=quiet)
        await eventually(lambda: len(simulator.requests) == 2)

    assert [r.body["private"] for r in simulator.requests] == [False, True]


async def test_moderator_sets_the_per_member_limit(
    fake: FakeDiscord, slow_env, slow_simulator
):
    simulator = slow_simulator
    async with running_bot(bot_settings(slow_env), fake):
        inter = await fake.send_slash(
            "sora-settings",
            [
                {
                    "name": "user-limit",
                    "type": 1,
                    "options": [{"name": "limit", "type": 4, "value": 1}],
                }
            ],
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(lambda: "1 video(s) at once" in reply_text(inter))
        await fake.send_slash("sora", {"prompt": "first"})
        await wait_for_status(fake)
        second = await fake.send_slash("sora", {"prompt": "second"})
        await fake.wait_until(lambda: "Queued, 1st in line" in reply_text(second))

    # The second waits in line: its status is posted, nothing is sent for it.
    assert len(await wait_for_status(fake, 2)) == 2
    assert len(simulator.requests) == 1


async def test_sora_info_lists_the_members_running_videos(fake: FakeDiscord, slow_env):
    async with running_bot(bot_settings(slow_env), fake):
        started = await fake.send_slash("sora", {"prompt": "a slow glacier"})
        await fake.wait_until(lambda: "Started" in reply_text(started))
        [status] = await wait_for_status(fake)
        info = await fake.send_slash("sora-info")
        await fake.wait_until(lambda: "Your running videos" in reply_text(info))
        other = await fake.send_slash("sora-info", user="bob")
        await fake.wait_until(lambda: "Your running videos" in reply_text(other))

    assert "a slow glacier" in reply_text(info)
    assert f"<#{status.thread_id}>" in reply_text(info)
    assert "Your running videos (0 of 3)" in reply_text(other)
    assert info.ephemeral
