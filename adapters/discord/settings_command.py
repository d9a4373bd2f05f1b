"""``/sora-settings`` for moderators: private mode, the running limit, the audit
channel.

Discord hides ``/sora-settings`` from members without Manage Server (its default
member permissions), but server owners can override that in the integration
settings, and a stale client may still send it: the permission is checked again here
from the interaction itself before anything changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord.replies import chat_of, reply, reporting, requester_of
from bot.audit.text import audit_channel_text
from bot.governance import Governor, Limit
from bot.models import Platform
from bot.ports import Scope
from bot.rendering import PRIVATE_MODE_EXPLAINED
from bot.service import VideoService

MAX_USER_LIMIT = 50
_ON_OFF = {"on": True, "off": False, "server default": None}


_LIMITS = [app_commands.Choice(name=limit.value, value=limit.value) for limit in Limit]
# Room left in a 2,000-character message for the word list.
_LIST_CHARS = 1900


def _onoff(enabled: bool) -> str:
    return "on" if enabled else "off"


def _server(interaction: discord.Interaction[Any]) -> Scope:
    return Scope(platform=Platform.DISCORD, workspace_id=str(interaction.guild_id))


def _by(interaction: discord.Interaction[Any]) -> str:
    return requester_of(interaction).user_id


async def _answer(
    interaction: discord.Interaction[Any],
    change: Callable[..., Awaitable[str]],
    *args: Any,
) -> None:
    """Run one governance setter for this server and show its sentence."""
    async with reporting(interaction):
        await interaction.response.defer(ephemeral=True, thinking=True)
        await reply(interaction, await change(_server(interaction), *args))


class SettingsGroup(app_commands.Group):
    """The moderators' switches, per server or per channel."""

    def __init__(self, service: VideoService) -> None:
        super().__init__(
            name="sora-settings",
            description="Sora settings for this server (Manage Server only)",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )
        self.service = service

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @property
    def governance(self) -> Governor:
        return self.service.governance

    limits = app_commands.Group(name="limits", description="Daily videos and budgets")
    words = app_commands.Group(name="words", description="Blocked words")
    channels = app_commands.Group(name="channels", description="Where /sora works")
    roles = app_commands.Group(name="roles", description="Who may use /sora")

    @limits.command(name="set", description="Set a limit for this server")
    @app_commands.describe(limit="Which limit", value="A number, or none for no limit")
    @app_commands.choices(limit=_LIMITS)
    async def limits_set(
        self, interaction: discord.Interaction[Any], limit: str, value: str
    ) -> None:
        await _answer(
            interaction,
            self.governance.set_limit,
            Limit(limit),
            value,
            _by(interaction),
        )

    @limits.command(name="clear", description="Back to the operator's default")
    @app_commands.describe(limit="Which limit")
    @app_commands.choices(limit=_LIMITS)
    async def limits_clear(
        self, interaction: discord.Interaction[Any], limit: str
    ) -> None:
        await _answer(
            interaction, self.governance.set_limit, Limit(limit), None, _by(interaction)
        )

    @words.command(name="add", description="Block a word, phrase or re:pattern")
    @app_commands.describe(entry="A word or phrase, or re: and a regular expression")
    async def words_add(
        self, interaction: discord.Interaction[Any], entry: str
    ) -> None:
        await _answer(interaction, self.governance.add_word, entry, _by(interaction))

    @words.command(name="remove", description="Unblock an entry")
    @app_commands.describe(entry="The entry exactly as listed")
    async def words_remove(
        self, interaction: discord.Interaction[Any], entry: str
    ) -> None:
        await _answer(interaction, self.governance.remove_word, entry, _by(interaction))

    @words.command(name="list", description="Show this server's blocked words")
    async def words_list(self, interaction: discord.Interaction[Any]) -> None:
        await _answer(interaction, self.governance.list_words, _LIST_CHARS)

    @channels.command(name="allow", description="Let /sora work in this channel")
    @app_commands.describe(channel="Adds to the channels where /sora works")
    async def channels_allow(
        self,
        interaction: discord.Interaction[Any],
        channel: app_commands.AppCommandChannel | app_commands.AppCommandThread,
    ) -> None:
        await _answer(
            interaction,
            self.governance.allow_channel,
            str(channel.id),
            _by(interaction),
        )

    @channels.command(name="clear", description="Let /sora work in every channel")
    async def channels_clear(self, interaction: discord.Interaction[Any]) -> None:
        await _answer(interaction, self.governance.clear_channels, _by(interaction))

    @roles.command(name="allow", description="Let members with this role use /sora")
    @app_commands.describe(role="Adds to the roles that may use /sora")
    async def roles_allow(
        self, interaction: discord.Interaction[Any], role: discord.Role
    ) -> None:
        await _answer(
            interaction, self.governance.allow_members, [str(role.id)], _by(interaction)
        )

    @roles.command(name="clear", description="Let everyone use /sora")
    async def roles_clear(self, interaction: discord.Interaction[Any]) -> None:
        await _answer(interaction, self.governance.clear_members, _by(interaction))

    @app_commands.command(name="timezone", description="When days and months start")
    @app_commands.describe(zone="A time zone name such as Europe/Berlin (UTC resets)")
    async def timezone(self, interaction: discord.Interaction[Any], zone: str) -> None:
        await _answer(interaction, self.governance.set_timezone, zone, _by(interaction))

    @app_commands.command(name="show", description="Every Sora setting on this server")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            scope = _server(interaction)
            limit = await self.service.user_limit(Platform.DISCORD, scope.workspace_id)
            private = await self.service.private_mode(chat_of(interaction))
            lines = [
                await self.governance.describe(scope),
                f"- Running videos per member: at most {limit}",
                f"- Private mode in this channel: {_onoff(private)}",
            ]
            await reply(interaction, "\n".join(lines))

    @app_commands.command(name="private-mode", description="Private mode on or off")
    @app_commands.describe(
        mode="on: the video service is asked not to publish videos (if it can)",
        channel="Only this channel (leave empty for the whole server)",
    )
    @app_commands.choices(
        mode=[app_commands.Choice(name=k, value=k) for k in _ON_OFF],
    )
    async def private_mode(
        self,
        interaction: discord.Interaction[Any],
        mode: str,
        channel: app_commands.AppCommandChannel | None = None,
    ) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            guild_id = str(interaction.guild_id)
            enabled = _ON_OFF[mode]
            if channel is None:
                # "server default" on the server itself means the built-in: off.
                scope = Scope(platform=Platform.DISCORD, workspace_id=guild_id)
                await self.service.set_private_mode(
                    scope, bool(enabled), by=requester_of(interaction)
                )
                where = "this server"
            else:
                scope = Scope(
                    platform=Platform.DISCORD,
                    workspace_id=guild_id,
                    channel_id=str(channel.id),
                )
                await self.service.set_private_mode(
                    scope, enabled, by=requester_of(interaction)
                )
                where = f"<#{channel.id}>"
            now = "follows the server" if enabled is None else _onoff(enabled)
            note = f" {PRIVATE_MODE_EXPLAINED}" if enabled else ""
            await reply(interaction, f"Private mode in {where}: {now}.{note}")

    @app_commands.command(
        name="user-limit", description="How many videos one member may run at once"
    )
    @app_commands.describe(limit="Running videos per member")
    async def user_limit(
        self,
        interaction: discord.Interaction[Any],
        limit: app_commands.Range[int, 1, MAX_USER_LIMIT],
    ) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self.service.set_user_limit(
                Platform.DISCORD,
                str(interaction.guild_id),
                limit,
                by=requester_of(interaction),
            )
            await reply(
                interaction, f"Each member may now run {limit} video(s) at once."
            )

    @app_commands.command(
        name="audit-channel",
        description="Where every video, refusal and settings change is recorded",
    )
    @app_commands.describe(channel="The audit channel (leave empty to stop posting)")
    async def audit_channel(
        self,
        interaction: discord.Interaction[Any],
        channel: app_commands.AppCommandChannel | None = None,
    ) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            scope = Scope(
                platform=Platform.DISCORD, workspace_id=str(interaction.guild_id)
            )
            channel_id = None if channel is None else str(channel.id)
            await self.service.set_audit_channel(
                scope, channel_id, by=requester_of(interaction)
            )
            await reply(
                interaction,
                audit_channel_text(None if channel is None else f"<#{channel.id}>"),
            )
