"""The queue on Discord: over the running limit a /sora waits its turn, shown."""

from __future__ import annotations

import asyncio

import pytest

from tests.adapters.discord_harness import (
    bot_settings,
    progress_of,
    reply_text,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import MODERATOR_PERMISSIONS, FakeDiscord
from tests.fakes.tasks import creates

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


async def test_three_sora_with_a_limit_of_one_run_one_after_another(
    fake: FakeDiscord, env, simulator
):
    env["USER_CONCURRENCY_LIMIT"] = "1"
    videos: list[int] = []
    creates_seen: list[int] = []

    async def watch(threads: list[str]) -> None:
        # Sampled all along: a create never comes before the video before it.
        while True:
            delivered = sum(
                any(m.attachments for m in fake.messages(t)) for t in threads
            )
            videos.append(delivered)
            creates_seen.append(len(creates(simulator)))
            await asyncio.sleep(0.01)

    async with running_bot(bot_settings(env), fake):
        answers = [
            await fake.send_slash("sora", {"prompt": f"lighthouse {n}"})
            for n in range(3)
        ]
        statuses = await wait_for_status(fake, 3)
        threads = [await thread_of(fake, s) for s in statuses]
        watcher = asyncio.create_task(watch(threads))
        try:
            for thread in threads:
                await wait_for_thread_post(fake, thread, within=20)
        finally:
            watcher.cancel()
        await fake.wait_until(lambda: all(reply_text(a) for a in answers))
        await fake.wait_until(
            lambda: all(
                progress_of({"embeds": s.embeds}).startswith("Done") for s in statuses
            )
        )

    assert [c.body["prompt"] for c in creates(simulator)] == [
        "lighthouse 0",
        "lighthouse 1",
        "lighthouse 2",
    ]
    assert all(c <= v + 1 for c, v in zip(creates_seen, videos, strict=True))
    assert reply_text(answers[1]).startswith("Queued, 1st in line")
    assert reply_text(answers[2]).startswith("Queued, 2nd in line")
    third = [progress_of(e) for e in [statuses[2].payload, *statuses[2].edits]]
    assert third[0] == "Queued, 2nd in line"
    assert "Queued, 1st in line" in third


async def test_sora_help_and_info_answer_privately_and_start_nothing(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        help_ = await fake.send_slash("sora-help")
        member = await fake.send_slash("sora-info")
        moderator = await fake.send_slash(
            "sora-info", user="mod", member_permissions=MODERATOR_PERMISSIONS
        )
        await fake.wait_until(
            lambda: all(reply_text(i) for i in (help_, member, moderator))
        )

    assert help_.ephemeral
    assert "`/sora prompt:" in reply_text(help_)
    assert "- sora-2-pro: 10, 15 s; HD at 10, 15 s" in reply_text(help_)
    assert "You may run 3 video(s) at once" in reply_text(help_)
    assert "Waiting in line (0 of 5):" in reply_text(member)
    assert "Server:" not in reply_text(member)
    assert "Server: 0 video(s) running, 0 waiting." in reply_text(moderator)
    assert "- audit channel: none" in reply_text(moderator)
    assert simulator.requests == []
