"""``/sora`` end to end: fake Discord, discord.py, the real core, the simulator."""

from __future__ import annotations

import io
import re
import socket

import httpx
import pytest
from PIL import Image

from tests.adapters.discord_harness import (
    SAMPLE_MP4,
    bot_settings,
    custom_ids,
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


def png(size: tuple[int, int] = (64, 36)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


async def test_sora_ends_with_the_mp4_in_a_thread_on_the_status_message(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash("sora", {"prompt": "a corgi surfing at sunset"})
        [status] = await wait_for_status(fake)
        thread_id = await thread_of(fake, status)
        [video] = await wait_for_thread_post(fake, thread_id)
        await fake.wait_until(
            lambda: status.edits and "Done" in progress_of(status.edits[-1])
        )

    assert inter.deferred
    assert inter.ephemeral
    assert inter.ack_latency is not None
    assert inter.ack_latency < 3
    assert f"<#{thread_id}>" in reply_text(inter)
    assert fake.threads[thread_id].name == "a corgi surfing at sunset"
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert [cid.rsplit(":", 1)[0] + ":" for cid in custom_ids(video)] == [
        "sora:retry:",
        "sora:remix:",
        "sora:takedown:",
    ]
    assert progress_of(status.payload).startswith("Queued")
    assert "100%" in progress_of(status.edits[-1])
    assert custom_ids(status.payload)[0].startswith("sora:cancel:")
    assert status.edits[-1]["components"] == []


async def test_status_edits_rise_from_queued_to_100_percent(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "waves on a rocky shore"})
        [status] = await wait_for_status(fake)
        await wait_for_thread_post(fake, await thread_of(fake, status))

    shown = [progress_of(status.payload)] + [progress_of(e) for e in status.edits]
    percents = [int(s.split("%")[0].split()[-1]) for s in shown if "%" in s]
    assert shown[0].startswith("Queued")
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert any(0 < p < 100 for p in percents), shown


async def test_sora_with_an_image_sends_it_to_the_provider(
    fake: FakeDiscord, env, simulator
):
    attachment = fake.add_cdn_attachment("cat.png", png(), "image/png")

    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "the cat dances", "image": attachment})
        [status] = await wait_for_status(fake)
        [video] = await wait_for_thread_post(fake, await thread_of(fake, status))

    [request] = simulator.requests
    files = [v for v in request.body.values() if not isinstance(v, str)]
    assert len(files) == 1
    assert files[0].content_type == "image/png"
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]


async def test_video_over_the_servers_upload_limit_becomes_a_link_with_the_reason(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash(
            "sora", {"prompt": "a long scenic drive"}, attachment_size_limit=1024
        )
        [status] = await wait_for_status(fake)
        [post] = await wait_for_thread_post(fake, await thread_of(fake, status))

    assert post.attachments == []
    assert "The video is 18 KB, more than this server's upload limit of 1 KB" in (
        post.content
    )
    assert "cannot be attached here" in post.content


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_with_public_url_a_video_over_the_limit_links_the_bots_copy(
    fake: FakeDiscord, env, simulator
):
    port = _free_port()
    env = {**env, "HTTP_PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}

    async with running_bot(bot_settings(env), fake), httpx.AsyncClient() as http:
        await fake.send_slash(
            "sora", {"prompt": "a long scenic drive"}, attachment_size_limit=1024
        )
        [status] = await wait_for_status(fake)
        [post] = await wait_for_thread_post(fake, await thread_of(fake, status))
        [link] = re.findall(r"http://127\.0\.0\.1:\d+/media/videos/\S+", post.content)
        served = await http.get(link)

    assert post.attachments == []
    assert "more than this server's upload limit of 1 KB" in post.content
    assert "this link to the bot's copy works for 7 days" in post.content
    assert served.status_code == 200
    assert served.headers["content-type"] == "video/mp4"
    assert served.content == SAMPLE_MP4.read_bytes()


async def test_moderation_failure_is_explained_in_plain_words_with_retry(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "something forbidden #moderation"})
        [status] = await wait_for_status(fake)
        [post] = await wait_for_thread_post(fake, await thread_of(fake, status))
        await fake.wait_until(
            lambda: status.edits and "Failed" in progress_of(status.edits[-1])
        )

    assert "No video this time" in post.content
    assert "did not pass the video service's content review" in post.content
    assert (
        'The video service said: "The generated video did not pass review '
        '(output moderation)."'
    ) in post.content
    assert "{" not in post.content
    assert post.attachments == []
    assert [cid.split(":")[1] for cid in custom_ids(post)] == ["retry"]


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "says"),
    [
        ("notes.txt", "text/plain", b"just words", "is not an image"),
        (
            "huge.png",
            "image/png",
            b"\x89PNG" + bytes(11 * 1024 * 1024),
            "at most 10 MB",
        ),
    ],
)
async def test_bad_attachment_gets_a_private_error_and_nothing_is_sent(
    fake: FakeDiscord, env, simulator, filename, content_type, data, says
):
    attachment = fake.add_cdn_attachment(filename, data, content_type)

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash(
            "sora", {"prompt": "animate this", "image": attachment}
        )
        await fake.wait_until(lambda: says in reply_text(inter))

    assert inter.ephemeral
    assert simulator.requests == []
    assert status_messages(fake) == []
    assert not [c for c in fake.calls if c.path.startswith("/cdn/")]


def _cut_off_png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((320, 240), 60).convert("RGB").save(out, "PNG")
    return out.getvalue()[: len(out.getvalue()) // 2]


async def test_cut_off_image_gets_a_private_error_before_any_status_or_create(
    fake: FakeDiscord, env, simulator
):
    # Its header is intact, so only decoding every pixel finds the damage.
    attachment = fake.add_cdn_attachment("cut.png", _cut_off_png(), "image/png")

    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash(
            "sora", {"prompt": "animate this", "image": attachment}
        )
        await fake.wait_until(lambda: "damaged or cut short" in reply_text(inter))

    assert inter.ephemeral
    assert simulator.requests == []
    assert status_messages(fake) == []
    assert fake.messages(fake.channel_id) == []


async def test_prompt_the_core_refuses_gets_a_private_error(
    fake: FakeDiscord, env, simulator
):
    env = {**env, "SORA_API_DIALECT": "v2"}
    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash(
            "sora", {"prompt": "a long one", "model": "sora-2", "duration": 25}
        )
        await fake.wait_until(lambda: "25-second videos need" in reply_text(inter))

    assert inter.ephemeral
    assert simulator.requests == []
    assert status_messages(fake) == []


async def test_sora_typed_inside_a_thread_keeps_everything_in_that_thread(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "first, to get a thread"})
        [first] = await wait_for_status(fake)
        thread_id = await thread_of(fake, first)
        await wait_for_thread_post(fake, thread_id)
        await fake.send_slash("sora", {"prompt": "second"}, channel_id=thread_id)
        _, status, video = await wait_for_thread_post(fake, thread_id, count=3)

    assert status.embeds[0]["description"] == "second"
    assert fake.attachment_bytes(video) == [SAMPLE_MP4.read_bytes()]
    assert len(fake.threads) == 1
