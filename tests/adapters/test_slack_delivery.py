"""After the job: remixing, failed uploads, 429s on posting, and moderators' cancel."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.slack.blocks import CANCEL_ACTION, REMIX_ACTION, RETRY_ACTION
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.slack_bot import (
    SAMPLE_MP4,
    all_done,
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
    view_submission,
)

pytestmark = pytest.mark.e2e

# Seconds a simulated job takes (read by the shared ``simulator`` fixture).
SIM_DURATION = 0.6


@pytest.fixture
async def slack(tmp_path, fake, simulator) -> AsyncIterator[HttpDelivery]:
    env = bot_env(tmp_path, fake, simulator)
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        yield HttpDelivery(events_url(runtime), s)


async def _one_finished_job(fake: FakeSlack, slack: HttpDelivery, prompt: str) -> str:
    await slack.command(slash_command(fake, prompt))
    await fake.wait_for("files.completeUploadExternal")
    await eventually(lambda: all_done(fake, CHANNEL))
    return status_messages(fake, CHANNEL)[0].ts


async def test_remix_opens_a_form_with_the_prompt_and_starts_a_new_job(
    fake, simulator, slack
):
    ts = await _one_finished_job(fake, slack, "a corgi on a beach")
    [status] = status_messages(fake, CHANNEL)
    task_id = buttons(status.blocks)[REMIX_ACTION]

    await slack.interactive(block_action(fake, REMIX_ACTION, task_id, message_ts=ts))
    [opened] = await fake.wait_for("views.open")
    view = next(iter(fake.views.values()))
    assert "a corgi on a beach" in str(opened.args["view"])
    prompt = {"prompt": {"value": {"type": "plain_text_input", "value": "on the moon"}}}
    await slack.interactive(view_submission(fake, view, prompt))

    await fake.wait_for("files.completeUploadExternal", count=2)
    assert [r.body["prompt"] for r in simulator.requests] == [
        "a corgi on a beach",
        "on the moon",
    ]


async def test_video_that_cannot_be_uploaded_ends_with_a_plain_reason_in_the_thread(
    fake, simulator, slack
):
    fake.fail_uploads = 100

    await slack.command(slash_command(fake, "a corgi nobody will see"))

    await eventually(lambda: len(fake.thread_messages(CHANNEL, _ts(fake))) > 1, 30)
    [_, note] = fake.thread_messages(CHANNEL, _ts(fake))
    assert "The video was made but could not be posted here." in note.text
    assert RETRY_ACTION in buttons(note.blocks)
    assert fake.uploaded_files == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def _oversized_video(
    fake: FakeSlack, env: dict[str, str], prompt: str
) -> AsyncIterator[tuple[Message, aiohttp.ClientSession]]:
    """A /sora whose video is over a 1 KB upload limit: the thread's note about it,
    while the bot still runs."""
    async with (
        running_bot(bot_settings(env), upload_limit=1024) as runtime,
        aiohttp.ClientSession() as session,
    ):
        await HttpDelivery(events_url(runtime), session).command(
            slash_command(fake, prompt)
        )
        await eventually(lambda: len(fake.thread_messages(CHANNEL, _ts(fake))) > 1, 15)
        [_, note] = fake.thread_messages(CHANNEL, _ts(fake))
        yield note, session


async def test_video_over_slacks_upload_limit_is_linked_to_the_bots_copy_for_7_days(
    tmp_path, fake, simulator
):
    port = _free_port()
    env = {
        **bot_env(tmp_path, fake, simulator),
        "HTTP_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    async with _oversized_video(fake, env, "a very long corgi film") as (note, http):
        [link] = re.findall(r"http://127\.0\.0\.1:\d+/media/videos/\S+", note.text)
        async with http.get(link) as response:
            served = (response.status, response.content_type, await response.read())

    assert "more than Slack's upload limit of 1 KB" in note.text
    assert "this link to the bot's copy works for 7 days" in note.text
    assert served == (200, "video/mp4", SAMPLE_MP4.read_bytes())
    assert fake.uploaded_files == []
    assert fake.calls_of("files.getUploadURLExternal") == []


async def test_without_public_url_a_video_over_slacks_limit_gets_the_providers_link(
    tmp_path, fake, simulator
):
    env = {**bot_env(tmp_path, fake, simulator), "SORA_API_DIALECT": "v2"}
    async with _oversized_video(fake, env, "a corgi film linked elsewhere") as (
        note,
        _,
    ):
        pass

    assert "more than Slack's upload limit of 1 KB" in note.text
    assert f"Watch it here: {simulator.base_url}/" in note.text
    assert "/media/videos/" not in note.text
    assert fake.uploaded_files == []
    assert not (tmp_path / "media" / "links").exists()


def _ts(fake: FakeSlack) -> str:
    messages = status_messages(fake, CHANNEL)
    return messages[0].ts if messages else "none"


async def test_moderation_after_90_percent_shows_the_stage_and_the_providers_words(
    fake, simulator, slack
):
    await slack.command(slash_command(fake, "something forbidden #moderation"))

    await eventually(lambda: len(fake.thread_messages(CHANNEL, _ts(fake))) > 1, 30)
    [_, note] = fake.thread_messages(CHANNEL, _ts(fake))
    assert "did not pass the video service's content review" in note.text
    assert (
        'The video service said: "The generated video did not pass review '
        '(output moderation)."'
    ) in note.text
    assert RETRY_ACTION in buttons(note.blocks)


async def test_429_on_posting_is_waited_out_for_its_retry_after(fake, simulator, slack):
    fake.force_429("chat.postMessage", retry_after=1)

    await slack.command(slash_command(fake, "a patient corgi"))

    await fake.wait_for("files.completeUploadExternal")
    refused, posted = fake.calls_of("chat.postMessage")
    assert refused.status == 429
    assert posted.at - refused.at >= 1
    assert len(status_messages(fake, CHANNEL)) == 1


async def test_workspace_admin_may_cancel_someone_elses_job(fake, simulator, slack):
    simulator.duration = 30
    fake.add_user("U0BOSS", owner=True)
    await slack.command(slash_command(fake, "a corgi the boss stops"))
    await eventually(lambda: len(status_messages(fake, CHANNEL)) == 1)
    [status] = status_messages(fake, CHANNEL)
    task_id = buttons(status.blocks)[CANCEL_ACTION]

    started = time.monotonic()
    await slack.interactive(
        block_action(fake, CANCEL_ACTION, task_id, user_id="U0BOSS")
    )

    await eventually(lambda: headline(status.blocks).startswith("Cancelled"))
    assert time.monotonic() - started < 5
    assert fake.responses_sent() == []


async def test_channel_the_bot_is_not_in_gets_a_private_hint_and_nothing_starts(
    fake, simulator, slack
):
    fake.outside.add(CHANNEL)

    await slack.command(slash_command(fake, "a corgi in the wrong place"))

    [answer] = await _responses(fake)
    assert answer["response_type"] == "ephemeral"
    assert "Invite me first" in answer["text"]
    assert simulator.requests == []


async def _responses(fake: FakeSlack) -> list[dict]:
    await eventually(lambda: bool(fake.responses_sent()))
    return fake.responses_sent()
