"""The audit channel and Takedown on Discord, and ``sorabot audit`` on the record."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.discord_harness import (
    bot_settings,
    button,
    progress_of,
    reply_text,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import MODERATOR_PERMISSIONS, USER_PERMISSIONS, FakeDiscord
from tests.fakes.discord_records import FakeMessage

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


def _settings_command(name: str, options: list[dict[str, Any]]) -> list[dict]:
    return [{"name": name, "type": 1, "options": options}]


async def _choose_audit_channel(fake: FakeDiscord, channel_id: str) -> None:
    payload = {**fake.channel_payload(channel_id), "permissions": str(USER_PERMISSIONS)}
    inter = await fake.send_slash(
        "sora-settings",
        _settings_command(
            "audit-channel", [{"name": "channel", "type": 7, "value": channel_id}]
        ),
        user="mod",
        member_permissions=MODERATOR_PERMISSIONS,
        resolved={"channels": {channel_id: payload}},
    )
    await fake.wait_until(lambda: "Audit entries now go to" in reply_text(inter))


def _titles(fake: FakeDiscord, channel_id: str) -> list[str]:
    return [m.embeds[0]["title"] for m in fake.messages(channel_id) if m.embeds]


def _fields(message: FakeMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


async def test_audit_channel_gets_one_entry_per_video_and_takedown_removes_it(
    fake: FakeDiscord, env, simulator, tmp_path: Path
):
    audit = fake.add_channel("sora-audit")
    async with running_bot(bot_settings(env), fake):
        await _choose_audit_channel(fake, audit)
        await fake.send_slash("sora", {"prompt": "a lighthouse at dusk"})
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))
        await fake.wait_until(lambda: len(_titles(fake, audit)) == 2)
        entry = fake.messages(audit)[1]

        refused = await fake.click(
            video.id,
            button(video, "takedown"),
            user="bob",
            member_permissions=USER_PERMISSIONS,
        )
        await fake.wait_until(lambda: reply_text(refused))
        still_there = fake.message(video.id) in fake.messages(video.channel_id)

        removed = await fake.click(
            entry.id,
            button(entry, "takedown"),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(lambda: "Removed" in reply_text(removed))
        await fake.wait_until(
            lambda: progress_of({"embeds": status.embeds}) == "Removed by a moderator"
        )
        await fake.wait_until(lambda: len(_titles(fake, audit)) == 3)

    assert _titles(fake, audit) == [
        "Setting changed: audit_channel",
        "Video: done",
        "Video taken down",
    ]
    facts = _fields(entry)
    assert facts["Prompt"] == "a lighthouse at dusk"
    assert facts["Model"] == "sora-2"
    assert facts["Member"] == f"<@{fake.user('alice')['id']}>"
    assert video.id in facts["Result"]
    assert reply_text(refused) == "Only moderators can take a video down."
    assert still_there
    assert fake.message(video.id).deleted
    assert len(simulator.requests) == 1
    task_id = button(video, "takedown").rsplit(":", 1)[1]
    assert not (tmp_path / "media" / "videos" / f"{task_id}.mp4").exists()

    exported = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "audit",
        "--format",
        "json",
        env={**os.environ, "DATABASE_URL": env["DATABASE_URL"]},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await exported.communicate()
    assert exported.returncode == 0
    rows = json.loads(out)
    assert [(r["kind"], r["outcome"]) for r in rows] == [
        ("setting", ""),
        ("video", "done"),
        ("takedown", "taken down"),
    ]
    assert rows[1]["task_id"] == rows[2]["task_id"] == task_id
    assert rows[2]["user_id"] == fake.user("mod")["id"]
    assert rows[0]["new_value"] == audit
