"""``/sora-info`` and ``/sora-help``: what a member (or moderator) may look up.

Both answer privately. The facts come from the service and the words from
``bot.info``; this module only points at threads with ``<#id>``.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from adapters.discord.replies import chat_of, reply, reporting, requester_of
from bot.info import help_lines, info_lines
from bot.models import Platform, Task
from bot.service import VideoService

# Discord's own syntax for /sora (its option names), shown by /sora-help.
SYNTAX = (
    "`/sora prompt:<what the video shows>` with optional `image` (JPEG, PNG or "
    "WebP, up to 10 MB), `model`, `orientation`, `duration`, `hd` and `style`. "
    "On a message with a picture: Apps → Animate with Sora. "
    "`/sora-info` shows your videos; moderators have `/sora-settings`."
)


def _where(task: Task) -> str:
    return f"<#{task.chat.thread_id or task.chat.channel_id}>"


def info_command(service: VideoService) -> app_commands.Command[Any, ..., None]:
    """``/sora-info``: the member's running and waiting videos and the limits;
    members with Manage Server also see the server's figures and settings."""

    async def sora_info(interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            info = await service.info(
                chat_of(interaction),
                requester_of(interaction),
                moderator=interaction.permissions.manage_guild,
            )
            await reply(interaction, "\n".join(info_lines(info, where=_where)))

    callback: Any = app_commands.guild_only()(sora_info)
    return app_commands.command(
        name="sora-info", description="Your Sora videos, running and waiting"
    )(callback)


def help_command(service: VideoService) -> app_commands.Command[Any, ..., None]:
    """``/sora-help``: the syntax, what this provider can make, the limits."""

    async def sora_help(interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            limits = await service.limits(Platform.DISCORD, str(interaction.guild_id))
            lines = help_lines(SYNTAX, service.profiles, limits)
            await reply(interaction, "\n".join(lines))

    callback: Any = app_commands.guild_only()(sora_help)
    return app_commands.command(
        name="sora-help", description="How to use Sora here, and the limits"
    )(callback)
