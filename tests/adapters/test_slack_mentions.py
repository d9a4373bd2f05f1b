"""Nothing a member types reaches Slack as a mention: every recorded field is checked.

A prompt, a file name or a provider's reason carrying ``<!channel>``, ``<!here>``,
``<!everyone>``, ``<!subteam^S123>``, ``<@U123>`` or ``<#C123>`` would ping people
if the bot sent it raw in any field Slack parses (the notification ``text`` above
all). These tests drive the real bot through slack-bolt against the fake Slack and
walk every Web API call, ``response_url`` post and acknowledgement it made.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from adapters.slack.blocks import CANCEL_ACTION, REMIX_ACTION, RETRY_ACTION
from bot.runtime import Runtime
from bot.simulator import Simulator
from bot.simulator._tasks import REASONS, Refusal
from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.provider import image_bytes
from tests.fakes.slack import FakeSlack, Message
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
    USER,
    Ack,
    HttpDelivery,
    app_mention,
    block_action,
    form_values,
    message_shortcut,
    slash_command,
    view_submission,
)

pytestmark = pytest.mark.e2e

SIM_DURATION = 0.8

MENTIONS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<@U123>",
    "<#C123>",
)
# Bare @channel and @here only ping with link_names, which the bot never sets.
HOSTILE = " ".join(MENTIONS) + " @channel @here"
PROMPT = f"a parade of ducks {HOSTILE} & friends"
HOSTILE_NAME = f"{HOSTILE} ducks.png"
# What Slack shows for ``<!channel>`` once it is escaped: the text, no ping.
ESCAPED = "&lt;!channel&gt;"
# Fields Slack never parses: an input's pre-filled text (shown literally, and sent
# back as typed) and a modal's private metadata (never shown).
UNPARSED_KEYS = frozenset({"initial_value", "private_metadata"})
# Anything Slack reads as a control sequence: ``<!...>``, ``<@...>`` and ``<#...>``
# notify, and any other ``<...>`` becomes a link.
CONTROL = re.compile(r"<([^>]*)>?")


@dataclass
class Bot:
    runtime: Runtime
    delivery: HttpDelivery
    fake: FakeSlack
    simulator: Simulator
    acks: list[Ack] = field(default_factory=list)

    async def command(self, text: str, **fields: str) -> Ack:
        ack = await self.delivery.command(
            slash_command(self.fake, text, user_name=HOSTILE, **fields)
        )
        self.acks.append(ack)
        return ack

    async def interactive(self, payload: dict[str, Any]) -> Ack:
        # The requester's name is theirs to choose; it must not be echoed raw either.
        payload["user"]["username"] = HOSTILE
        payload["user"]["name"] = HOSTILE
        ack = await self.delivery.interactive(payload)
        self.acks.append(ack)
        return ack


@pytest.fixture
async def bot(tmp_path, fake, simulator) -> AsyncIterator[Bot]:
    env = bot_env(tmp_path, fake, simulator)
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        yield Bot(runtime, HttpDelivery(events_url(runtime), s), fake, simulator)


def strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in ``value`` with its path; JSON inside strings is opened too
    (slack-sdk form-encodes ``files`` and ``blocks`` as JSON strings)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in UNPARSED_KEYS:
                yield from strings(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")
    elif isinstance(value, str):
        if value[:1] in "[{":
            try:
                yield from strings(json.loads(value), where)
                return
            except ValueError:
                pass
        yield where, value


def everything_sent(bot: Bot) -> list[tuple[str, Any]]:
    """Each Web API call's arguments, ``response_url`` post and ack body."""
    sent: list[tuple[str, Any]] = [(c.method, c.args) for c in bot.fake.calls]
    sent += [("response_url", payload) for payload in bot.fake.responses_sent()]
    sent += [("ack", ack.body) for ack in bot.acks if ack.body is not None]
    return sent


def assert_nothing_pings(bot: Bot) -> None:
    """No field carries a raw ``<`` except the bot's own ``<@requester>``, and no
    call sets ``link_names``."""
    raw = [
        (source, where, text)
        for source, args in everything_sent(bot)
        for where, text in strings(args)
        if any(m != f"@{USER}" for m in CONTROL.findall(text))
    ]
    assert raw == []
    assert [m for m, args in everything_sent(bot) if "link_names" in args] == []


def texts_of(bot: Bot, method: str) -> list[str]:
    return [str(c.args.get("text", "")) for c in bot.fake.calls_of(method)]


def ss(bot: Bot) -> list[Message]:
    return status_messages(bot.fake, CHANNEL)


async def all_done(bot: Bot, videos: int = 1) -> None:
    await bot.fake.wait_for("files.completeUploadExternal", count=videos, within=15)
    await eventually(
        lambda: all(headline(m.blocks).startswith("Done") for m in ss(bot))
    )


async def start_and_finish(bot: Bot, text: str = PROMPT) -> None:
    await bot.command(text)
    await all_done(bot)


async def test_prompt_mentions_are_escaped_in_the_status_its_edits_and_the_video(
    bot: Bot,
):
    await start_and_finish(bot)

    assert_nothing_pings(bot)
    [post] = bot.fake.calls_of("chat.postMessage")
    assert post.args["text"].startswith("Queued: a parade of ducks &lt;!channel&gt;")
    edits = texts_of(bot, "chat.update")
    assert any(t.startswith("Generating: ") for t in edits)
    assert edits[-1].startswith("Done: ")
    assert all(ESCAPED in t and "&lt;#C123&gt;" in t for t in edits)
    [complete] = bot.fake.calls_of("files.completeUploadExternal")
    [uploaded] = json.loads(complete.args["files"])
    assert uploaded["title"].startswith("a parade of ducks &lt;!channel&gt;")
    assert complete.args["initial_comment"] == f"<@{USER}> here is your video."
    assert bot.simulator.requests[0].body["prompt"] == PROMPT


async def test_a_provider_reason_with_mentions_is_escaped_in_the_error_reply(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
):
    reason = f"Upstream renderer crashed near {HOSTILE}."
    monkeypatch.setitem(REASONS, Refusal.ERROR, reason)
    bot.simulator.inject("fail")

    await bot.command(PROMPT)
    replies = await bot.fake.wait_for(
        "chat.postMessage", where=lambda c: bool(c.args.get("thread_ts")), within=15
    )
    await eventually(lambda: headline(ss(bot)[0].blocks).startswith("Failed"))

    assert_nothing_pings(bot)
    [error] = replies
    assert error.args["text"].startswith(f"<@{USER}> No video this time:")
    assert "Upstream renderer crashed near &lt;!channel&gt;" in error.args["text"]
    assert "&lt;!subteam^S123&gt;" in json.dumps(error.args["blocks"])
    assert texts_of(bot, "chat.update")[-1].startswith(
        f"Failed: a parade of ducks {ESCAPED}"
    )


async def test_a_cancelled_status_keeps_the_prompt_escaped(bot: Bot):
    bot.simulator.duration = 30
    await bot.command(PROMPT)
    await eventually(lambda: len(ss(bot)) == 1)
    [status] = ss(bot)

    await bot.interactive(
        block_action(bot.fake, CANCEL_ACTION, buttons(status.blocks)[CANCEL_ACTION])
    )
    await eventually(lambda: headline(status.blocks).startswith("Cancelled"))

    assert_nothing_pings(bot)
    assert texts_of(bot, "chat.update")[-1].startswith(
        f"Cancelled: a parade of ducks {ESCAPED}"
    )


async def test_refusals_that_quote_the_input_are_escaped(bot: Bot):
    not_a_channel = await bot.command("private on <!here>", command="/sora-admin")
    unknown_flag = await bot.command(f"{PROMPT} --flag <!here>")
    await bot.command(f"{PROMPT} --hd")
    mention = app_mention(bot.fake, f"<@UBOT> {HOSTILE}")
    await bot.delivery.event(mention)
    [usage] = await bot.fake.wait_for("chat.postMessage")
    await eventually(lambda: len(bot.fake.responses_sent()) == 1)

    assert_nothing_pings(bot)
    assert "`&lt;!here&gt;` is not a channel" in not_a_channel.body["text"]
    assert "`--flag`" in unknown_flag.body["text"]
    assert "/sora &lt;prompt&gt;" in unknown_flag.body["text"]
    assert "/sora &lt;prompt&gt;" in usage.args["text"]
    [refusal] = bot.fake.responses_sent()
    assert "HD videos need sora-2-pro" in refusal["text"]
    assert bot.simulator.requests == []


async def test_form_refusals_quoting_a_model_or_file_name_are_escaped(bot: Bot):
    await bot.command("")
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    not_a_picture = bot.fake.add_file(HOSTILE_NAME, b"no picture here")
    pdf = bot.fake.add_file(f"{HOSTILE}.pdf", b"%PDF-1.4", "application/pdf")

    await bot.interactive(
        view_submission(bot.fake, view, form_values(PROMPT, model="<!channel>"))
    )
    await bot.interactive(
        view_submission(bot.fake, view, form_values(PROMPT, files=[not_a_picture]))
    )
    in_form = await bot.interactive(
        view_submission(bot.fake, view, form_values(PROMPT, files=[pdf]))
    )
    await bot.fake.wait_for("chat.postEphemeral", count=2)

    assert_nothing_pings(bot)
    model, image = sorted(texts_of(bot, "chat.postEphemeral"))
    assert model.startswith("Unknown model `&lt;!channel&gt;`")
    assert image.startswith(f"`{ESCAPED}")
    assert in_form.body["errors"]["image"].startswith(f"`{ESCAPED}")
    assert bot.simulator.requests == []


async def test_remix_with_a_hostile_prompt_is_escaped_everywhere(bot: Bot):
    await start_and_finish(bot, "a calm pond")
    [status] = ss(bot)
    await eventually(lambda: REMIX_ACTION in buttons(status.blocks))
    task_id = buttons(status.blocks)[REMIX_ACTION]

    await bot.interactive(block_action(bot.fake, REMIX_ACTION, task_id))
    await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    await bot.interactive(view_submission(bot.fake, view, form_values(PROMPT)))
    await all_done(bot, videos=2)

    assert_nothing_pings(bot)
    assert bot.simulator.requests[-1].body["prompt"] == PROMPT
    remixed = [t for t in texts_of(bot, "chat.update") if "parade" in t]
    assert remixed
    assert all(ESCAPED in t for t in remixed)
    assert RETRY_ACTION in buttons(ss(bot)[-1].blocks)


async def test_animate_with_sora_escapes_the_message_text_and_image_name(bot: Bot):
    image = bot.fake.add_file(HOSTILE_NAME, image_bytes(64, 48))
    message = {"type": "message", "ts": "1.000001", "text": PROMPT, "files": [image]}

    await bot.interactive(message_shortcut(bot.fake, message))
    [opened] = await bot.fake.wait_for("views.open")
    view = next(iter(bot.fake.views.values()))
    await bot.interactive(view_submission(bot.fake, view, form_values(PROMPT)))
    await all_done(bot)

    assert_nothing_pings(bot)
    assert f"*{ESCAPED}" in json.dumps(opened.args["view"])
    [prompt_block] = [b for b in view["blocks"] if b.get("block_id") == "prompt"]
    # Pre-filled input text is shown as typed and comes back as typed: not escaped.
    assert prompt_block["element"]["initial_value"] == PROMPT
    assert bot.simulator.requests[0].body["prompt"] == PROMPT
