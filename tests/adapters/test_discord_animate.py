"""**Animate with Sora** on a posted message: fake Discord, discord.py, the core."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from bot.simulator import FileRecord, RecordedRequest
from tests.adapters.discord_harness import (
    SAMPLE_MP4,
    bot_env,
    bot_settings,
    eventually,
    reply_text,
    running_bot,
    status_messages,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import FakeDiscord, FakeInteraction

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

MENU = "Animate with Sora"
PROMPT_FIELD = "sora:animate-prompt"


def png(colour: tuple[int, int, int] = (30, 160, 90)) -> bytes:
    """A landscape video's exact size, so no dialect needs to change the bytes."""
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), colour).save(out, "PNG")
    return out.getvalue()


def received_images(request: RecordedRequest) -> list[FileRecord]:
    uploaded = [v for v in request.body.values() if isinstance(v, FileRecord)]
    return uploaded + list(request.fetched.values())


async def opened_form(fake: FakeDiscord, inter: FakeInteraction) -> dict[str, object]:
    await inter.wait_acked()
    assert inter.modal is not None
    return inter.modal


async def test_the_message_command_is_registered_with_the_slash_commands(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        menu = fake.command(MENU)
        slash = fake.command("sora")

    assert menu is not None
    assert menu["type"] == 3
    assert menu["description"] == ""
    assert menu["options"] == []
    assert slash is not None
    assert slash["type"] == 1


async def test_animating_a_posted_picture_makes_a_video_of_it(
    fake: FakeDiscord, env, simulator
):
    picture = png()
    attachment = fake.add_cdn_attachment("garden.png", picture, "image/png")
    posted = fake.post_as_user("our garden in spring", attachments=[attachment])

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_message_command(MENU, posted, user="bob")
        form = await opened_form(fake, inter)
        submitted = await fake.submit_modal(
            str(form["custom_id"]), {PROMPT_FIELD: "the flowers sway in the wind"}
        )
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))

    assert "our garden in spring" in str(form["components"])
    [request] = simulator.requests
    assert request.body["prompt"] == "the flowers sway in the wind"
    [image] = received_images(request)
    assert image.sha256 == hashlib.sha256(picture).hexdigest()
    assert status.embeds[0]["description"] == "the flowers sway in the wind"
    assert "reference image" in str(status.embeds[0]["fields"])
    assert submitted.ephemeral
    assert "Started" in reply_text(submitted)
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]


async def test_an_embeds_image_is_taken_when_the_message_has_no_attachment(
    fake: FakeDiscord, tmp_path, simulator
):
    picture = png((200, 40, 40))
    hosted = fake.add_cdn_attachment("poster.png", picture, "image/png")
    posted = fake.post_as_user(
        "", embeds=[{"type": "rich", "image": {"url": hosted["url"]}}]
    )
    # A URL dialect: the image goes to the provider as its Discord link.
    env = bot_env(tmp_path, fake, simulator, dialect="video-create")

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_message_command(MENU, posted)
        form = await opened_form(fake, inter)
        await fake.submit_modal(str(form["custom_id"]), {PROMPT_FIELD: "it glows"})
        [request] = await eventually(lambda: simulator.requests)

    [image] = received_images(request)
    assert image.sha256 == hashlib.sha256(picture).hexdigest()


async def test_a_message_without_a_picture_gets_a_private_answer_and_no_form(
    fake: FakeDiscord, env, simulator
):
    notes = fake.add_cdn_attachment("notes.txt", b"just words", "text/plain")
    posted = fake.post_as_user("no picture here", attachments=[notes])

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_message_command(MENU, posted)
        await fake.wait_until(lambda: "no picture to animate" in reply_text(inter))

    assert inter.modal is None
    assert inter.ephemeral
    assert simulator.requests == []
    assert status_messages(fake) == []


async def test_an_embed_image_over_10_mb_gets_a_private_refusal_and_nothing_is_sent(
    fake: FakeDiscord, env, simulator
):
    huge = fake.add_cdn_attachment(
        "huge.png", b"\x89PNG\r\n\x1a\n" + bytes(30 * 1024 * 1024), "image/png"
    )
    posted = fake.post_as_user(
        "", embeds=[{"type": "rich", "image": {"url": huge["url"]}}]
    )

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_message_command(MENU, posted)
        form = await opened_form(fake, inter)
        submitted = await fake.submit_modal(
            str(form["custom_id"]), {PROMPT_FIELD: "too big to animate"}
        )
        await fake.wait_until(lambda: "at most 10 MB" in reply_text(submitted), 10)

    assert submitted.ephemeral
    assert simulator.requests == []
    assert status_messages(fake) == []
