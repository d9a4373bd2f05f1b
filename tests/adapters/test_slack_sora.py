"""/sora end to end, over HTTP (signed requests) and over Socket Mode.

The bot runs for real (Runtime, SQLite in tmp_path, the provider client against a
test-owned simulator) with unmodified slack-bolt and slack-sdk talking to the fake
Slack on 127.0.0.1. Assertions are on what users see in Slack and what the
provider received.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from PIL import Image

from adapters.slack.blocks import CANCEL_ACTION, RETRY_ACTION
from adapters.slack.convert import slack_chat
from bot.models import ChatRef
from bot.rendering import PRIVATE_MODE_NOTE
from bot.runtime import Runtime
from bot.simulator import FileRecord, Simulator
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    SAMPLE_MP4,
    bot_env,
    bot_settings,
    buttons,
    events_url,
    eventually,
    headline,
    running_bot,
    status_messages,
    wait_for_responses,
)
from tests.fakes.slack_payloads import (
    CHANNEL,
    USER,
    Delivery,
    HttpDelivery,
    SocketDelivery,
    app_mention,
    block_action,
    form_values,
    message_shortcut,
    slash_command,
    view_submission,
)

pytestmark = pytest.mark.e2e

SIM_DURATION = 0.8


@dataclass
class Bot:
    runtime: Runtime
    delivery: Delivery
    fake: FakeSlack
    simulator: Simulator


@pytest.fixture(params=["http", "socket"])
async def bot(request, tmp_path, fake, simulator) -> AsyncIterator[Bot]:
    socket = request.param == "socket"
    env = bot_env(tmp_path, fake, simulator, http=not socket, socket=socket)
    env["SLACK_ADMIN_USERS"] = "U0LISTED"
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        delivery: Delivery = (
            SocketDelivery(fake) if socket else HttpDelivery(events_url(runtime), s)
        )
        yield Bot(runtime, delivery, fake, simulator)


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


def images_sent(simulator: Simulator) -> list[FileRecord]:
    return [
        value
        for record in simulator.requests
        if isinstance(record.body, dict)
        for value in record.body.values()
        if isinstance(value, FileRecord)
    ]


async def finished(bot: Bot, count: int = 1) -> None:
    await bot.fake.wait_for("files.completeUploadExternal", count=count, within=15)


async def test_sora_posts_a_status_message_and_uploads_the_video_into_its_thread(
    bot: Bot,
):
    ack = await bot.delivery.command(
        slash_command(bot.fake, "a corgi surfing at sunset --portrait")
    )

    assert ack.status == 200
    assert ack.seconds < 1
    await finished(bot)
    [status] = status_messages(bot.fake, CHANNEL)
    [video] = bot.fake.uploaded_files
    assert (video.channel, video.thread_ts) == (CHANNEL, status.ts)
    assert video.data == SAMPLE_MP4.read_bytes()
    [reply] = bot.fake.thread_messages(CHANNEL, status.ts)[1:]
    assert reply.files[0]["id"] == video.id
    assert f"<@{USER}>" in reply.text
    await eventually(lambda: RETRY_ACTION in buttons(status.blocks))
    states = [headline(blocks).split()[0] for _, blocks in status.versions]
    assert states[0] == "Queued"
    assert states[-1] == "Done"
    assert "Generating" in states
    [create] = bot.simulator.requests
    assert create.body["prompt"] == "a corgi surfing at sunset"
    assert create.body["size"] == "720x1280"


async def test_unknown_flag_answers_with_the_syntax_and_starts_nothing(bot: Bot):
    ack = await bot.delivery.command(slash_command(bot.fake, "a corgi --fast"))

    assert "`--fast`" in ack.body["text"]
    assert "/sora &lt;prompt&gt;" in ack.body["text"]
    await asyncio.sleep(0.3)
    assert bot.fake.calls_of("chat.postMessage") == []
    assert bot.simulator.requests == []


async def test_rule_broken_after_parsing_is_answered_privately(bot: Bot):
    await bot.delivery.command(slash_command(bot.fake, "a corgi --hd"))

    [answer] = await _responses(bot)
    assert answer["response_type"] == "ephemeral"
    assert "HD videos need sora-2-pro" in answer["text"]
    assert bot.fake.calls_of("chat.postMessage") == []
    assert bot.simulator.requests == []


async def _responses(bot: Bot, count: int = 1) -> list[dict]:
    return await wait_for_responses(bot.fake, count)


async def test_form_with_a_reference_image_sends_it_to_the_provider(bot: Bot):
    await bot.delivery.command(slash_command(bot.fake, ""))
    [opened] = await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    image = bot.fake.add_file("cat.png", png())

    ack = await bot.delivery.interactive(
        view_submission(bot.fake, view, form_values("a cat waving", files=[image]))
    )

    assert ack.status == 200
    assert opened.args["trigger_id"]
    await finished(bot)
    [sent] = images_sent(bot.simulator)
    assert (sent.width, sent.height) == (1280, 720)
    assert bot.simulator.requests[0].body["prompt"] == "a cat waving"


async def test_shortcut_on_a_message_with_an_image_prefills_the_form(bot: Bot):
    image = bot.fake.add_file("dog.png", png(), "image/png")
    message = {"type": "message", "ts": "1.000001", "text": "my dog", "files": [image]}

    await bot.delivery.interactive(message_shortcut(bot.fake, message))
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    assert "dog.png" in str(view["blocks"])
    await bot.delivery.interactive(
        view_submission(bot.fake, view, form_values("the dog dances"))
    )

    await finished(bot)
    assert len(images_sent(bot.simulator)) == 1


async def test_bad_image_gets_an_ephemeral_error_and_no_provider_request(bot: Bot):
    await bot.delivery.command(slash_command(bot.fake, ""))
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    fake_png = bot.fake.add_file("cat.png", b"this is not a picture at all")

    await bot.delivery.interactive(
        view_submission(bot.fake, view, form_values("a cat", files=[fake_png]))
    )

    await bot.fake.wait_for("chat.postEphemeral")
    [note] = bot.fake.ephemerals
    assert note["user"] == USER
    assert note["channel"] == CHANNEL
    assert "not a JPEG, PNG or WebP image" in note["text"]
    assert bot.simulator.requests == []
    assert bot.fake.calls_of("chat.postMessage") == []


async def test_file_slack_calls_a_pdf_is_refused_inside_the_form(bot: Bot):
    await bot.delivery.command(slash_command(bot.fake, ""))
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    pdf = bot.fake.add_file("notes.pdf", b"%PDF-1.4", "application/pdf")

    ack = await bot.delivery.interactive(
        view_submission(bot.fake, view, form_values("a cat", files=[pdf]))
    )

    assert ack.body["response_action"] == "errors"
    assert "not a JPEG, PNG or WebP" in ack.body["errors"]["image"]
    await asyncio.sleep(0.2)
    assert bot.fake.calls_of("files.completeUploadExternal") == []
    assert bot.simulator.requests == []


async def test_retried_delivery_starts_no_second_job(bot: Bot):
    command = slash_command(bot.fake, "one corgi only")

    first = await bot.delivery.command(command)
    again = await bot.delivery.command(command, retry=1)

    assert (first.status, again.status) == (200, 200)
    await finished(bot)
    await asyncio.sleep(0.3)
    assert len(bot.simulator.requests) == 1
    assert len(status_messages(bot.fake, CHANNEL)) == 1


async def test_mention_gets_the_syntax_once_even_when_redelivered(bot: Bot):
    event = app_mention(bot.fake, "<@UBOT> help")

    await bot.delivery.event(event)
    await bot.delivery.event(event, retry=1)

    [reply] = await bot.fake.wait_for("chat.postMessage")
    await asyncio.sleep(0.2)
    assert len(bot.fake.calls_of("chat.postMessage")) == 1
    assert "/sora &lt;prompt&gt;" in reply.args["text"]
    assert reply.args["thread_ts"] == event["event"]["ts"]


async def test_non_admin_cannot_turn_on_private_mode(bot: Bot):
    await bot.delivery.command(
        slash_command(bot.fake, "private on", command="/sora-admin")
    )

    [answer] = await _responses(bot)
    assert "only workspace admins and owners" in answer["text"]
    assert not await bot.runtime.service.private_mode(_chat(bot))


async def test_admin_is_told_private_mode_is_not_available_on_openai(bot: Bot):
    bot.fake.add_user("U0BOSS", admin=True)

    await bot.delivery.command(
        slash_command(bot.fake, "private on", command="/sora-admin", user_id="U0BOSS")
    )
    [answer] = await _responses(bot)
    await bot.delivery.command(slash_command(bot.fake, "a corgi"))

    assert "Private mode stays off" in answer["text"]
    assert "cannot keep videos unpublished" in answer["text"]
    assert not await bot.runtime.service.private_mode(_chat(bot))
    await finished(bot)
    [status] = status_messages(bot.fake, CHANNEL)
    assert PRIVATE_MODE_NOTE not in str(status.blocks)
    assert "private" not in bot.simulator.requests[0].body


async def test_listed_user_sets_the_limit_for_the_workspace(bot: Bot):
    await bot.delivery.command(
        slash_command(bot.fake, "limit 7", command="/sora-admin", user_id="U0LISTED")
    )

    [answer] = await _responses(bot)
    assert "7 video(s)" in answer["text"]
    assert await bot.runtime.service.user_limit(_chat(bot).platform, "T0FAKE") == 7


def _chat(bot: Bot) -> ChatRef:
    return slack_chat(bot.fake.team_id, CHANNEL)


async def test_retry_button_starts_the_same_video_again(bot: Bot):
    await bot.delivery.command(slash_command(bot.fake, "a corgi again"))
    await finished(bot)
    [status] = status_messages(bot.fake, CHANNEL)
    await eventually(lambda: RETRY_ACTION in buttons(status.blocks))

    task_id = buttons(status.blocks)[RETRY_ACTION]
    await bot.delivery.interactive(block_action(bot.fake, RETRY_ACTION, task_id))

    await finished(bot, count=2)
    assert [r.body["prompt"] for r in bot.simulator.requests] == ["a corgi again"] * 2
    assert len(status_messages(bot.fake, CHANNEL)) == 2


async def test_someone_else_cannot_cancel_but_the_requester_can(bot: Bot):
    bot.simulator.duration = 30
    await bot.delivery.command(slash_command(bot.fake, "a long corgi"))
    await eventually(lambda: len(status_messages(bot.fake, CHANNEL)) == 1)
    [status] = status_messages(bot.fake, CHANNEL)
    task_id = buttons(status.blocks)[CANCEL_ACTION]

    await bot.delivery.interactive(
        block_action(bot.fake, CANCEL_ACTION, task_id, user_id="U0MALLORY")
    )
    [refusal] = await _responses(bot)
    await bot.delivery.interactive(block_action(bot.fake, CANCEL_ACTION, task_id))

    assert "Only the person who asked" in refusal["text"]
    await eventually(lambda: headline(status.blocks).startswith("Cancelled"))
    assert RETRY_ACTION in buttons(status.blocks)
