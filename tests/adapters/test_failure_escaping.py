"""The provider's words in a failure are shown as typed: no pings, no markup."""

from __future__ import annotations

from adapters.discord.render import error_text
from adapters.slack.blocks import failure_blocks
from bot.models import Failure, FailureKind
from tests.fakes.tasks import make_task

HOSTILE = "@everyone <@123456789012345678> **bold** <!channel> & <https://x|y>"


def _failure() -> Failure:
    return Failure(
        kind=FailureKind.MODERATION_PROMPT, message="x", provider_reason=HOSTILE
    )


def test_discord_shows_the_providers_words_without_markdown_or_mentions():
    text = error_text(make_task(), _failure())

    stage, said = text.split(' The video service said: "')
    assert "refused the prompt" in stage
    assert "@everyone" not in said
    assert "<@123456789012345678>" not in said
    assert "**bold**" not in said
    assert "\\*\\*bold\\*\\*" in said


def test_slack_shows_the_providers_words_without_control_sequences():
    text, blocks = failure_blocks(make_task(), _failure())

    said = text.split(' The video service said: "')[1]
    assert "<!channel>" not in said
    assert "<https://x|y>" not in said
    assert "&lt;!channel&gt; &amp;" in said
    assert blocks[0]["text"]["text"] == text
