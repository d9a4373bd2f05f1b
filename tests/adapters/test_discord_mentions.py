"""Nothing the bot sends on Discord may ping: every message write allows no mentions.

A prompt, a name or a provider's reason carrying ``@everyone``, ``@here``,
``<@&role>`` or ``<@user>`` is shown as text only if each request that creates or
edits a message says ``allowed_mentions: {"parse": []}``. These tests drive the real
bot through discord.py against the fake Discord and check every such request the
fake recorded: channel posts and edits, interaction responses and followups.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from discord.utils import escape_mentions

from bot.simulator._tasks import REASONS, Refusal
from tests.adapters.discord_harness import (
    bot_settings,
    button,
    eventually,
    progress_of,
    reply_text,
    running_bot,
    status_messages,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

HOSTILE = "@everyone @here <@&345678901234567890> <@456789012345678901>"
PROMPT = f"a parade of ducks {HOSTILE}"
# Users choose their names too; "@everyone" as a name must not ping either.
MEMBER = "@everyone"

# Route templates (as the fake records them) of requests that write a message.
MESSAGE_WRITES = frozenset(
    {
        ("POST", "/channels/{channel_id}/messages"),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
        ("POST", "/webhooks/{app_id}/{token}"),
        ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}"),
    }
)
CALLBACK = ("POST", "/interactions/{interaction_id}/{token}/callback")
# Interaction callbacks that carry a message: CHANNEL_MESSAGE_WITH_SOURCE and
# UPDATE_MESSAGE. A deferral (5, 6) carries only flags; a modal (9) is no message.
MESSAGE_CALLBACKS = frozenset({4, 7})
NO_CONTENT_CALLBACKS = frozenset({5, 6})


def message_writes(fake: FakeDiscord) -> list[tuple[str, dict[str, Any]]]:
    """``(what, payload)`` for every recorded request that creates or edits a
    message; a deferral must carry nothing that could mention anyone."""
    writes = []
    for call in fake.calls:
        where = (call.method, call.route)
        if where in MESSAGE_WRITES:
            writes.append((f"{call.method} {call.route}", call.json or {}))
        elif where == CALLBACK:
            kind, data = call.json["type"], call.json.get("data") or {}
            if kind in MESSAGE_CALLBACKS:
                writes.append((f"callback {kind}", data))
            elif kind in NO_CONTENT_CALLBACKS:
                assert set(data) <= {"flags"}, data
    return writes


def assert_nothing_pings(fake: FakeDiscord, *, expect: set[str]) -> None:
    """Every message write allows no mentions at all, and the writes include the
    kinds in ``expect`` (so the check cannot pass on fewer paths than meant)."""
    writes = message_writes(fake)
    allowed = [(what, payload.get("allowed_mentions")) for what, payload in writes]
    assert [a for a in allowed if a[1] != {"parse": []}] == []
    assert expect <= {what for what, _ in writes}


def any_write_says(fake: FakeDiscord, text: str) -> bool:
    return any(
        text in json.dumps(p, ensure_ascii=False) for _, p in message_writes(fake)
    )


POSTED = "POST /channels/{channel_id}/messages"
EDITED = "PATCH /channels/{channel_id}/messages/{message_id}"
FOLLOWUP = "POST /webhooks/{app_id}/{token}"
LIMIT_TWO = {"name": "limit", "type": 4, "value": 2}


async def test_status_edits_video_and_started_reply_allow_no_mentions(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash("sora", {"prompt": PROMPT}, user=MEMBER)
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))
        await fake.wait_until(
            lambda: status.edits and "Done" in progress_of(status.edits[-1])
        )

    assert_nothing_pings(fake, expect={POSTED, EDITED, FOLLOWUP})
    assert status.embeds[0]["description"] == PROMPT
    assert fake.attachment_bytes(video)
    assert "Started" in reply_text(inter)


async def test_a_provider_reason_with_mentions_is_posted_without_pinging(
    fake: FakeDiscord, env, simulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(REASONS, Refusal.ERROR, f"Upstream renderer broke {HOSTILE}.")
    simulator.inject("fail")

    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": PROMPT}, user=MEMBER)
        [status] = await wait_for_status(fake)
        [error] = await wait_for_thread_post(fake, await thread_of(fake, status))
        await fake.wait_until(
            lambda: status.edits and "Failed" in progress_of(status.edits[-1])
        )

    assert_nothing_pings(fake, expect={POSTED, EDITED, FOLLOWUP})
    # Quoted after the stage, with the mention syntax broken up so that it reads as
    # typed and could not ping even if a client ignored allowed_mentions.
    said = error.content.split('The video service said: "')[1]
    assert said.startswith(escape_mentions(f"Upstream renderer broke {HOSTILE}"))
    assert "@everyone" not in said
    assert error.allowed_mentions == {"parse": []}


async def test_a_cancelled_job_allows_no_mentions(
    fake: FakeDiscord, slow_env, slow_simulator
):
    async with running_bot(bot_settings(slow_env), fake):
        await fake.send_slash("sora", {"prompt": PROMPT}, user=MEMBER)
        [status] = await wait_for_status(fake)
        await eventually(lambda: slow_simulator.requests)
        click = await fake.click(status.id, button(status, "cancel"), user=MEMBER)
        await fake.wait_until(lambda: reply_text(click))
        assert reply_text(click) == "Cancelled."
        await fake.wait_until(
            lambda: status.edits and "Cancelled" in progress_of(status.edits[-1])
        )

    assert_nothing_pings(fake, expect={POSTED, EDITED, FOLLOWUP})


async def test_refusals_quoting_the_input_allow_no_mentions(
    fake: FakeDiscord, env, simulator
):
    attachment = fake.add_cdn_attachment(f"{HOSTILE}.txt", b"words", "text/plain")

    async with running_bot(bot_settings(env), fake):
        not_image = await fake.send_slash(
            "sora", {"prompt": PROMPT, "image": attachment}, user=MEMBER
        )
        too_long = await fake.send_slash(
            "sora", {"prompt": PROMPT, "model": "sora-2", "duration": 25}, user=MEMBER
        )
        # Refused before any defer: answered with an interaction response (type 4).
        not_allowed = await fake.send_slash(
            "sora-settings",
            [{"name": "user-limit", "type": 1, "options": [LIMIT_TWO]}],
            user=MEMBER,
        )
        await fake.wait_until(lambda: "is not an image" in reply_text(not_image))
        await fake.wait_until(lambda: "not 25" in reply_text(too_long))
        await fake.wait_until(lambda: "Manage Server" in reply_text(not_allowed))

    assert_nothing_pings(fake, expect={FOLLOWUP, "callback 4"})
    assert f"`{HOSTILE}.txt`" in reply_text(not_image)
    assert simulator.requests == []
    assert status_messages(fake) == []


async def test_remix_with_a_hostile_prompt_allows_no_mentions(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "a calm pond"})
        [first] = await wait_for_status(fake)
        [result] = await wait_for_thread_post(fake, await thread_of(fake, first))
        click = await fake.click(result.id, button(result, "remix"), user=MEMBER)
        await click.wait_acked()
        assert click.modal is not None
        form = await fake.submit_modal(
            click.modal["custom_id"], {"sora:remix-prompt": PROMPT}, user=MEMBER
        )
        _, remixed = await wait_for_status(fake, 2)
        await wait_for_thread_post(fake, await thread_of(fake, remixed))
        await fake.wait_until(
            lambda: remixed.edits and "Done" in progress_of(remixed.edits[-1])
        )

    assert_nothing_pings(fake, expect={POSTED, EDITED, FOLLOWUP})
    assert remixed.embeds[0]["description"] == PROMPT
    assert "Started" in reply_text(form)
    assert any_write_says(fake, HOSTILE)
