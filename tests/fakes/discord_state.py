"""The fake Discord's state and the payloads it builds from it.

Everything a test asserts on lives here (messages with their edit history,
threads, interactions, synced commands, uploaded files, REST calls), so it
survives the bot disconnecting, being killed, and a new process logging in.
``FakeDiscord`` (in ``tests.fakes.discord``) adds the server and the users.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
from collections.abc import Callable, Mapping
from typing import Any

import discord
from PIL import Image

from tests.fakes.discord_gateway import GUILD_MESSAGES_INTENT, Gateway
from tests.fakes.discord_http import API
from tests.fakes.discord_limits import DiscordError, RateLimiter
from tests.fakes.discord_records import (
    Call,
    FakeFile,
    FakeInteraction,
    FakeMessage,
    FakeThread,
    Snowflakes,
)

USER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    use_application_commands=True,
    attach_files=True,
).value
MODERATOR_PERMISSIONS = USER_PERMISSIONS | discord.Permissions(manage_guild=True).value
BOT_PERMISSIONS = USER_PERMISSIONS | (
    discord.Permissions(
        embed_links=True, create_public_threads=True, manage_threads=True
    ).value
)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024

UserArg = str | Mapping[str, Any]


class DiscordState:
    """One guild (``guild_id``) with one text channel (``channel_id``; more with
    ``add_channel``; more servers, each with a channel, with ``add_guild``), the
    bot user, and the clocks tests may shorten:
    ``ack_deadline`` (3 s), ``token_lifetime`` (900 s), ``upload_limit`` (10 MiB),
    and what ``/gateway/bot`` answers (``recommended_shards``, ``max_concurrency``).
    All of these are plain attributes and can be changed on a running fake."""

    def __init__(
        self,
        *,
        token: str = "fake-token",  # noqa: S107 - the fake's own bot token
        app_id: str = "1100000000000000001",
        guild_id: str = "1100000000000000002",
        channel_id: str = "1100000000000000003",
        token_lifetime: float = 900.0,
        ack_deadline: float = 3.0,
        heartbeat_interval: int = 41250,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.token_lifetime = token_lifetime
        self.ack_deadline = ack_deadline
        self.heartbeat_interval = heartbeat_interval
        self.upload_limit = upload_limit
        # What GET /gateway/bot answers: the shard count Discord recommends, and
        # how many shards may IDENTIFY at once (16 lets a test start 2 at once).
        self.recommended_shards = 1
        self.max_concurrency = 16
        self.ids = Snowflakes()
        self.limiter = RateLimiter()
        self.gateway = Gateway(self)
        self.calls: list[Call] = []
        self.rate_limited: collections.Counter[str] = collections.Counter()
        self.invalid_token_calls = 0
        self.errors: list[str] = []
        self.channels: dict[str, dict[str, Any]] = {
            channel_id: {"name": "general", "position": 0}
        }
        # The server of each channel that is not in ``guild_id`` (``add_guild``).
        self._channel_guilds: dict[str, str] = {}
        self.threads: dict[str, FakeThread] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self.cdn: dict[str, FakeFile] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.sync_count = 0
        self.bot_user: dict[str, Any] = {
            "id": "1100000000000000004",
            "username": "sorabot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
        }
        self._users: dict[str, dict[str, Any]] = {self.bot_user["id"]: self.bot_user}
        self._user_ids: dict[str, str] = {}
        self._messages: dict[str, FakeMessage] = {}
        self._by_channel: dict[str, list[FakeMessage]] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self._command_ids: dict[tuple[str | None, str], str] = {}
        self._roles = {
            "bot": self.ids.next(),
            "moderator": self.ids.next(),
            "creators": self.ids.next(),
        }
        # Roles members hold besides @everyone, by user id (``give_role``).
        self.member_roles: dict[str, list[str]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- payloads ----------------------------------------------------------

    def user(self, name: UserArg = "alice") -> dict[str, Any]:
        """A user payload; the same name always gets the same id."""
        if isinstance(name, Mapping):
            self._users.setdefault(str(name["id"]), dict(name))
            return self._users[str(name["id"])]
        user_id = self._user_ids.get(name)
        if user_id is None:
            user_id = self._user_ids[name] = self.ids.next()
            self._users[user_id] = {
                "id": user_id,
                "username": name,
                "discriminator": "0",
                "global_name": name.title(),
                "avatar": None,
                "bot": False,
            }
        return self._users[user_id]

    def role_id(self, name: str) -> str:
        """The id of one of the guild's roles: ``moderator`` or ``creators``."""
        return self._roles[name]

    def give_role(self, user: UserArg, role: str) -> None:
        """``user`` holds the guild role named ``role`` from now on."""
        user_id = self.user(user)["id"]
        self.member_roles.setdefault(user_id, []).append(self._roles[role])

    def member_payload(
        self, user_id: str, permissions: int | None = None
    ) -> dict[str, Any] | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        roles = (
            [self._roles["bot"]]
            if user is self.bot_user
            else list(self.member_roles.get(user_id, ()))
        )
        member = {
            "user": user,
            "roles": roles,
            "joined_at": "2025-01-01T00:00:00+00:00",
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
        }
        if permissions is not None:
            member["permissions"] = str(permissions)
        return member

    def member_payloads(self) -> list[dict[str, Any]]:
        return [m for uid in self._users if (m := self.member_payload(uid)) is not None]

    @property
    def guild_ids(self) -> list[str]:
        """Every server the bot is in: ``guild_id`` first, then ``add_guild``'s."""
        return [self.guild_id, *dict.fromkeys(self._channel_guilds.values())]

    def guild_of(self, channel_id: str) -> str:
        """The server a channel or thread belongs to."""
        thread = self.threads.get(channel_id)
        parent = thread.parent_id if thread is not None else channel_id
        return self._channel_guilds.get(parent, self.guild_id)

    def guild_payload(self, guild_id: str | None = None) -> dict[str, Any]:
        g = guild_id or self.guild_id
        role = {
            "color": 0,
            "hoist": False,
            "mentionable": False,
            "managed": False,
            "icon": None,
            "flags": 0,
        }
        return {
            "id": g,
            "name": "Fake Guild",
            "owner_id": self.user("owner")["id"],
            "icon": None,
            "features": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "member_count": len(self._users),
            "large": False,
            "unavailable": False,
            "joined_at": "2025-01-01T00:00:00+00:00",
            "roles": [
                {
                    **role,
                    "id": g,
                    "name": "@everyone",
                    "position": 0,
                    "permissions": str(USER_PERMISSIONS),
                },
                {
                    **role,
                    "id": self._roles["bot"],
                    "name": "sorabot",
                    "position": 1,
                    "permissions": str(BOT_PERMISSIONS),
                    "managed": True,
                },
                {
                    **role,
                    "id": self._roles["moderator"],
                    "name": "Moderators",
                    "position": 2,
                    "permissions": str(MODERATOR_PERMISSIONS),
                },
                {
                    **role,
                    "id": self._roles["creators"],
                    "name": "Creators",
                    "position": 3,
                    "permissions": str(USER_PERMISSIONS),
                },
            ],
            "channels": [
                self.channel_payload(c) for c in self.channels if self.guild_of(c) == g
            ],
            "threads": [
                self.channel_payload(t.id)
                for t in self.threads.values()
                if not t.archived and self.guild_of(t.id) == g
            ],
            "members": [self.member_payload(self.bot_user["id"])],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def channel_payload(self, channel_id: str) -> dict[str, Any]:
        thread = self.threads.get(channel_id)
        if thread is not None:
            return thread.to_payload(
                self.guild_of(channel_id), len(self._by_channel.get(channel_id, ()))
            )
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": self.guild_of(channel_id),
            "name": channel["name"],
            "position": channel["position"],
            "topic": channel.get("topic"),
            "parent_id": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "last_message_id": None,
        }

    def message_payload(self, message: FakeMessage) -> dict[str, Any]:
        return message.to_payload(self.guild_of(message.channel_id))

    def add_channel(self, name: str, *, guild_id: str | None = None) -> str:
        """A text channel in ``guild_id`` (default: the first server)."""
        channel_id = self.ids.next()
        self.channels[channel_id] = {"name": name, "position": len(self.channels)}
        if guild_id is not None and guild_id != self.guild_id:
            self._channel_guilds[channel_id] = guild_id
        return channel_id

    def add_guild(self, guild_id: str) -> str:
        """Another server the bot is in, with the same members and roles and a
        text channel of its own, whose id this returns (send there with
        ``channel_id=``; more with ``add_channel``); its events go to the session
        of its shard."""
        return self.add_channel("general", guild_id=guild_id)

    # -- messages and files -------------------------------------------------

    def add_message(self, message: FakeMessage) -> None:
        self._messages[message.id] = message
        self._by_channel.setdefault(message.channel_id, []).append(message)
        if not message.ephemeral:
            self.gateway.echo(
                GUILD_MESSAGES_INTENT, "MESSAGE_CREATE", self.message_payload(message)
            )

    def message(self, message_id: str) -> FakeMessage | None:
        return self._messages.get(str(message_id))

    def messages(
        self, channel_id: str | int, *, include_ephemeral: bool = False
    ) -> list[FakeMessage]:
        """Messages in a channel or thread, oldest first, without deleted ones."""
        return [
            m
            for m in self._by_channel.get(str(channel_id), ())
            if not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        return self._by_token.get(token)

    def _attachment(
        self, att_id: str, channel_id: str, stored: FakeFile, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        url = f"{self.base}/cdn/attachments/{channel_id}/{att_id}/{stored.filename}"
        payload: dict[str, Any] = {
            "id": att_id,
            "filename": stored.filename,
            "size": len(stored.data),
            "url": url,
            "proxy_url": url,
            "content_type": stored.content_type,
        }
        if extra.get("description"):
            payload["description"] = extra["description"]
        if stored.content_type.startswith("image/"):
            # Discord reports dimensions only for files it can decode as images.
            with (
                contextlib.suppress(OSError, ValueError),
                Image.open(io.BytesIO(stored.data)) as image,
            ):
                payload["width"], payload["height"] = image.size
        return payload

    def store_upload(
        self, channel_id: str, file: FakeFile, entry: Mapping[str, Any]
    ) -> dict[str, Any]:
        att_id = self.ids.next()
        self.cdn[att_id] = file
        return self._attachment(att_id, channel_id, file, entry)

    def add_cdn_attachment(
        self, filename: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """A user's upload: returns the resolved attachment payload for an option."""
        if not self.port:
            raise RuntimeError("start the fake first: the URL needs its port")
        return self.store_upload("0", FakeFile(filename, content_type, data), {})

    def attachment_bytes(self, message: FakeMessage | str) -> list[bytes]:
        found = self.message(message) if isinstance(message, str) else message
        if found is None:
            raise KeyError(message)
        return [self.cdn[a["id"]].data for a in found.attachments]

    # -- commands -------------------------------------------------------------

    def store_commands(
        self, guild_id: str | None, commands: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        stored = []
        for command in commands:
            key = (guild_id, command["name"])
            command_id = self._command_ids.get(key) or self._command_ids.setdefault(
                key, self.ids.next()
            )
            full = {
                "type": 1,
                # Discord answers "" for message and user commands, which have none.
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": command_id,
                "application_id": self.app_id,
                "version": self.ids.next(),
            }
            if full["default_member_permissions"] is not None:
                # Discord answers bitfields as strings, whatever the bot sent.
                full["default_member_permissions"] = str(
                    full["default_member_permissions"]
                )
            if guild_id is not None:
                full["guild_id"] = guild_id
            stored.append(full)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.sync_count += 1
        return stored

    def command(self, name: str) -> dict[str, Any] | None:
        """The synced command (guild first, then global), as the bot sent it."""
        for command in [
            *self.guild_commands.get(self.guild_id, ()),
            *self.global_commands,
        ]:
            if command["name"] == name:
                return dict(command)
        return None

    # -- waiting and faults ----------------------------------------------------------

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    async def wait_until(
        self,
        condition: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Any:
        """Wait until ``condition()`` is truthy (re-checked after every REST call)."""
        async with asyncio.timeout(timeout):
            while not (result := condition()):
                await self._changed()
        return result
