"""Answers only the asking user sees, and the one place failures become words.

A ``BotError`` carries a sentence meant for the user; anything else is a bug or an
outage: it is logged with its traceback and the user gets an apology, and the bot
keeps serving everyone else. The core's sentences are plain text that may quote
the user (a file name, a model name), so they are escaped before Slack parses them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import escape
from bot.errors import BotError

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."

# Takes Slack mrkdwn: plain text from the core or the user goes through ``escape``
# first, so the adapter's own ``<#C123>`` links stay links.
Tell = Callable[[str], Awaitable[None]]


def via_response_url(respond: AsyncRespond) -> Tell:
    """Slash commands and buttons: ``response_url`` works even where the bot isn't."""

    async def tell(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    return tell


def via_ephemeral(client: AsyncWebClient, channel: str, user: str) -> Tell:
    """Modals have no ``response_url``: an ephemeral message, else a direct message."""

    async def tell(text: str) -> None:
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError:
            # Not in that channel (or none): the app's own DM always works.
            await client.chat_postMessage(channel=user, text=text)

    return tell


@contextlib.asynccontextmanager
async def reporting(tell: Tell) -> AsyncIterator[None]:
    """Run a listener's work; tell the user about any failure, never re-raise."""
    try:
        yield
    except BotError as error:
        text = error.user_message
        # Mentions built from stored ids only (a gate's channels) stay links.
        await _quietly(tell, text if error.has_mentions else escape(text))
    except Exception:
        log.exception("handling a Slack request failed")
        await _quietly(tell, APOLOGY)


async def _quietly(tell: Tell, text: str) -> None:
    try:
        await tell(text)
    except Exception:
        log.exception("could not tell the user about a failure")
