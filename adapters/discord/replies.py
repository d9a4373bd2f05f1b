"""Private answers to the member who clicked or typed, and the one error handler.

Every command, button and modal runs its work inside ``reporting(interaction)``:
a ``BotError`` becomes its ``user_message`` in an ephemeral reply, anything else is
logged with its traceback and answered with an apology, and the bot goes on serving
everyone else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord
from discord import app_commands

from bot.errors import BotError
from bot.models import ChatRef, Platform, Requester, Task
from bot.rendering import started_label

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."

# Every message the bot creates or edits carries this, so a prompt or a provider's
# reason that says @everyone, @here, <@&role> or <@user> pings nobody. The client
# sets it as its default too; passing it at each call keeps that true for a
# message even if the default changes.
NO_MENTIONS = discord.AllowedMentions.none()


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    """Who acted, with their roles for the role gate (none outside a server)."""
    user = interaction.user
    roles = user.roles if isinstance(user, discord.Member) else ()
    return Requester(
        user_id=str(user.id),
        display_name=user.display_name,
        roles=tuple(str(role.id) for role in roles),
    )


def chat_of(interaction: discord.Interaction[Any]) -> ChatRef:
    """Where the interaction came from: its server and channel."""
    return ChatRef(
        platform=Platform.DISCORD,
        workspace_id=str(interaction.guild_id),
        channel_id=str(interaction.channel_id),
    )


def started_text(task: Task) -> str:
    """The private confirmation: where to watch the job (or its place in line)."""
    where = task.chat.thread_id or task.chat.channel_id
    return f"{started_label(task)}: follow it in <#{where}>."


async def reply(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer privately, as a first response or as a followup after a defer.

    Past the token's 15 minutes (a very long queue for the REST budget) the answer
    is dropped: Discord would refuse it with a 401, and 401s count toward its
    invalid-request ban. The job itself is announced in the channel anyway.
    """
    if interaction.is_expired():
        log.info("interaction %s expired before its answer", interaction.id)
        return
    if interaction.response.is_done():
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
    else:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def report_error(interaction: discord.Interaction[Any], error: Exception) -> None:
    """Tell the member what went wrong, without ever raising."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, BotError):
        text = error.user_message
    elif isinstance(error, app_commands.MissingPermissions):
        # Discord hides such commands by default, but a server can show them to
        # everyone; the bot's own check is what actually guards the settings.
        text = "Only members with the Manage Server permission can do this."
    elif isinstance(error, app_commands.CheckFailure):
        text = "You are not allowed to use this command here."
    else:
        log.error("interaction %s failed", interaction.id, exc_info=error)
        text = APOLOGY
    try:
        await reply(interaction, text)
    except Exception:
        # The token may have expired, or the bot is shutting down: nothing left to
        # tell the member, and no job depends on this answer.
        log.warning("could not tell interaction %s about its error", interaction.id)


@asynccontextmanager
async def reporting(interaction: discord.Interaction[Any]) -> AsyncIterator[None]:
    """Run a handler's body; turn any failure into a private answer."""
    try:
        yield
    except Exception as error:
        await report_error(interaction, error)
