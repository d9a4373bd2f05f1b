"""The discord.py client: slash commands, persistent buttons, and nothing cached.

It is an ``AutoShardedClient``: one process runs the shards ``attach`` assigns it
(all of them by default, one for a small bot), each its own gateway connection
(see ``adapters.discord.shards``).

Slash commands and buttons arrive as INTERACTION_CREATE, which needs no intent; the
``guilds`` intent is kept so discord.py knows each server (it needs the guild to
open a thread). Messages and members are not cached: the bot never reads them, and
a busy server would otherwise fill memory with them.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord.animate_menu import animate_menu
from adapters.discord.buttons import DYNAMIC_ITEMS
from adapters.discord.info_command import help_command, info_command
from adapters.discord.replies import NO_MENTIONS, report_error
from adapters.discord.settings_command import SettingsGroup
from adapters.discord.shards import IdentifyPacer
from adapters.discord.sora_command import sora_command
from adapters.discord.thread import DiscordDirectory, Pacing
from bot.service import VideoService
from bot.video_links import VideoLinks

log = logging.getLogger(__name__)

# on_ready waits this long for the servers listed in READY; nothing here waits for
# on_ready, so a long wait only delays the log line.
_GUILD_READY_TIMEOUT = 0.5


class SoraTree(app_commands.CommandTree[discord.Client]):
    """Routes every unhandled command error to the one error handler."""

    async def on_error(
        self,
        interaction: discord.Interaction[discord.Client],
        error: app_commands.AppCommandError,
    ) -> None:
        await report_error(interaction, error)


class SoraClient(discord.AutoShardedClient):
    """The bot's Discord connection and its commands.

    Args:
        service: the core's use cases; its ``offer`` shapes ``/sora``'s choices.
        pacing: shared edit coalescing and REST budget.
        links: the bot's own links for videos over the upload limit.
    """

    def __init__(
        self,
        service: VideoService,
        pacing: Pacing,
        links: VideoLinks,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            guild_ready_timeout=_GUILD_READY_TIMEOUT,
            **options,
        )
        self.service = service
        self.tree = SoraTree(self)
        self.directory = DiscordDirectory(self, pacing, links)
        self.identify_pacer = IdentifyPacer(1)

    async def before_identify_hook(
        self, shard_id: int | None, *, initial: bool = False
    ) -> None:
        await self.identify_pacer.wait(shard_id)

    async def setup_hook(self) -> None:
        self.tree.add_command(sora_command(self.service))
        self.tree.add_command(SettingsGroup(self.service))
        self.tree.add_command(info_command(self.service))
        self.tree.add_command(help_command(self.service))
        self.tree.add_command(animate_menu(self.service))
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        # A bulk overwrite: idempotent, so syncing at every start is safe and new
        # choices (another provider or model list) reach Discord without a manual
        # step.
        await self.tree.sync()
        log.info("Discord commands synced")
