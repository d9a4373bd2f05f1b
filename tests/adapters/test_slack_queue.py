"""The queue, the audit channel, Takedown and the info commands on the fake Slack.

HTTP mode only: the Socket Mode path is the same listeners (see test_slack_sora).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from adapters.slack.blocks import TAKEDOWN_ACTION
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
    headline,
    running_bot,
    status_messages,
)
from tests.fakes.slack_payloads import (
    CHANNEL,
    HttpDelivery,
    block_action,
    slash_command,
)
from tests.fakes.tasks import creates

pytestmark = pytest.mark.e2e

SIM_DURATION = 0.6
AUDIT = "C0AUDIT"
BOSS = "U0BOSS"


@dataclass
class Bot:
    runtime: Runtime
    delivery: HttpDelivery
    fake: FakeSlack
    simulator: Simulator

    async def sora(self, text: str, **options: str) -> None:
        await self.delivery.command(slash_command(self.fake, text, **options))

    async def admin(self, text: str, user_id: str = BOSS) -> None:
        await self.sora(text, command="/sora-admin", user_id=user_id)

    async def answers(self, count: int) -> list[dict]:
        await eventually(lambda: len(self.fake.responses_sent()) >= count)
        return self.fake.responses_sent()


async def _bot(tmp_path, fake, simulator, **env: str) -> AsyncIterator[Bot]:
    settings = bot_settings({**bot_env(tmp_path, fake, simulator), **env})
    async with running_bot(settings) as runtime, aiohttp.ClientSession() as session:
        fake.add_user(BOSS, admin=True)
        yield Bot(runtime, HttpDelivery(events_url(runtime), session), fake, simulator)


@pytest.fixture
async def bot(tmp_path, fake, simulator) -> AsyncIterator[Bot]:
    async for running in _bot(tmp_path, fake, simulator):
        yield running


@pytest.fixture
async def private_capable(tmp_path, fake, simulator) -> AsyncIterator[Bot]:
    """A ``v2`` relay: it has a private field, so private mode can be switched on."""
    async for running in _bot(tmp_path, fake, simulator, SORA_API_DIALECT="v2"):
        yield running


@pytest.fixture
async def one_at_a_time(tmp_path, fake, simulator) -> AsyncIterator[Bot]:
    async for running in _bot(tmp_path, fake, simulator, USER_CONCURRENCY_LIMIT="1"):
        yield running


async def test_three_sora_with_a_limit_of_one_wait_their_turn(one_at_a_time: Bot):
    bot = one_at_a_time
    samples: list[tuple[int, int]] = []

    async def watch() -> None:
        while True:
            samples.append((len(creates(bot.simulator)), len(bot.fake.uploaded_files)))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        for n in range(3):
            await bot.sora(f"a heron {n}")
        await bot.fake.wait_for("files.completeUploadExternal", count=3, within=20)
    finally:
        watcher.cancel()
    statuses = status_messages(bot.fake, CHANNEL)
    await eventually(
        lambda: all(headline(s.blocks).startswith("Done") for s in statuses)
    )

    assert [c.body["prompt"] for c in creates(bot.simulator)] == [
        "a heron 0",
        "a heron 1",
        "a heron 2",
    ]
    assert all(made <= videos + 1 for made, videos in samples)
    shown = [headline(blocks).split(" · ")[0] for _, blocks in statuses[2].versions]
    assert shown[0] == "Queued, 2nd in line"
    assert "Queued, 1st in line" in shown
    assert "Queued, 1st in line" in headline(statuses[1].versions[0][1])


async def test_audit_channel_entry_and_takedown_by_an_admin_only(bot: Bot):
    await bot.admin(f"audit <#{AUDIT}|sora-audit>")
    await bot.sora("a heron at dawn")
    await bot.fake.wait_for("files.completeUploadExternal", within=15)
    await eventually(lambda: len(bot.fake.channel_messages(AUDIT)) == 2)
    setting, entry = bot.fake.channel_messages(AUDIT)
    task_id = buttons(entry.blocks)[TAKEDOWN_ACTION]

    await bot.delivery.interactive(block_action(bot.fake, TAKEDOWN_ACTION, task_id))
    refused = (await bot.answers(2))[-1]
    kept = list(bot.fake.uploaded_files)
    await bot.delivery.interactive(
        block_action(bot.fake, TAKEDOWN_ACTION, task_id, user_id=BOSS)
    )
    done = (await bot.answers(3))[-1]
    [status] = [m for m in bot.fake.channel_messages(CHANNEL) if m.blocks]
    await eventually(
        lambda: headline(status.blocks).startswith("Removed by a moderator")
    )

    assert "Setting changed: audit_channel" in setting.text
    assert entry.text == "Video: done"
    assert "a heron at dawn" in entry.blocks[0]["text"]["text"]
    assert "Only moderators can take a video down." in refused["text"]
    assert len(kept) == 1
    assert bot.fake.deleted_files == [kept[0].id]
    assert bot.fake.uploaded_files == []
    assert "Removed" in done["text"]
    assert TAKEDOWN_ACTION not in buttons(status.blocks)
    await eventually(lambda: len(bot.fake.channel_messages(AUDIT)) == 3)
    assert bot.fake.channel_messages(AUDIT)[2].text == "Video taken down"


async def test_sora_help_answers_and_never_starts_a_video(bot: Bot):
    await bot.sora("help")
    await bot.sora("  HELP ")
    answers = await bot.answers(2)
    await asyncio.sleep(0.3)

    assert bot.simulator.requests == []
    assert status_messages(bot.fake, CHANNEL) == []
    assert "/sora &lt;prompt&gt;" in answers[0]["text"]
    assert "sora-2-pro: 10, 15 s; HD at 10, 15 s" in answers[0]["text"]
    assert "You may run 3 video(s) at once" in answers[1]["text"]


async def test_sora_info_shows_running_and_waiting_and_mine_lists_videos(
    tmp_path, fake, simulator
):
    simulator.duration = 30
    async for bot in _bot(tmp_path, fake, simulator, USER_CONCURRENCY_LIMIT="1"):
        await bot.sora("a slow heron")
        await bot.sora("a patient heron")
        await eventually(lambda: len(status_messages(fake, CHANNEL)) == 2)
        await bot.sora("info")
        await bot.sora("mine")
        await bot.sora("info", user_id=BOSS)
        info, mine, moderator = await bot.answers(3)

    assert "Your running videos (1 of 1):" in info["text"]
    assert "a slow heron" in info["text"]
    assert "Waiting in line (1 of 5):" in info["text"]
    assert "Queued, 1st in line" in info["text"]
    assert "Server:" not in info["text"]
    assert "a patient heron" in mine["text"]
    assert "Server: 1 video(s) running, 1 waiting." in moderator["text"]
    assert len(creates(simulator)) == 1


async def test_options_without_a_prompt_open_the_form_pre_set(bot: Bot):
    await bot.sora("--pro --portrait --15s --hd")
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    blocks = {b.get("block_id"): b for b in view["blocks"]}

    assert blocks["model"]["element"]["initial_option"]["value"] == "sora-2-pro"
    assert blocks["orientation"]["element"]["initial_option"]["value"] == "portrait"
    assert blocks["seconds"]["element"]["initial_option"]["value"] == "15"
    assert [o["value"] for o in blocks["extras"]["element"]["initial_options"]] == [
        "hd"
    ]
    assert bot.simulator.requests == []


async def test_admin_resets_a_channel_to_the_workspace_default(
    private_capable: Bot,
):
    bot = private_capable
    chat = bot.runtime.service
    await bot.admin("private on")
    await bot.admin(f"private off <#{CHANNEL}|general>")
    await bot.answers(2)
    overridden = await chat.private_mode(_chat(bot))
    await bot.admin(f"private default <#{CHANNEL}|general>")
    answer = (await bot.answers(3))[-1]

    assert overridden is False
    assert "now follows the workspace" in answer["text"]
    assert await chat.private_mode(_chat(bot)) is True


def _chat(bot: Bot):
    from adapters.slack.convert import slack_chat

    return slack_chat(bot.fake.team_id, CHANNEL)


async def test_a_hidden_blocked_word_sends_nothing_and_is_in_the_audit_channel(
    bot: Bot,
):
    await bot.admin(f"audit <#{AUDIT}|sora-audit>")
    await bot.admin("words add dragon")
    await bot.answers(2)
    await bot.sora("a dra\u200bgon")
    await eventually(lambda: len(bot.fake.channel_messages(AUDIT)) == 3)

    setting, words, refused = bot.fake.channel_messages(AUDIT)
    assert "audit_channel" in setting.text
    assert "blocked_words" in words.text
    assert refused.text == "Refused (blocked_word)"
    body = refused.blocks[0]["text"]["text"]
    assert "Detail: dragon" in body
    assert f"Channel: <#{CHANNEL}>" in body
    assert TAKEDOWN_ACTION not in buttons(refused.blocks)
    assert bot.simulator.requests == []
    assert status_messages(bot.fake, CHANNEL) == []
