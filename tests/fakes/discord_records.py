"""What the fake Discord remembers: REST calls, messages, threads, interactions.

Records use ``__slots__`` because the burst benchmark pushes about a thousand
interactions (and several thousand REST calls) through one fake.
"""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7


class Snowflakes:
    """Real-looking, strictly increasing ids (discord.py reads created_at from them)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return str(self._last)


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


@dataclass(slots=True)
class FakeFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Call:
    """One REST request as the fake saw it; ``path`` and ``route`` omit ``/api/v10``."""

    at: float
    method: str
    path: str
    route: str | None
    query: dict[str, str]
    json: Any
    files: list[FakeFile]
    status: int = 0


class FakeMessage:
    """A message's current state; ``edits`` keeps every edit's payload, in order."""

    __slots__ = (
        "allowed_mentions",
        "attachments",
        "author",
        "channel_id",
        "components",
        "content",
        "deleted",
        "edits",
        "embeds",
        "flags",
        "id",
        "interaction_id",
        "kind",
        "payload",
        "thread_id",
        "timestamp",
        "tts",
        "webhook_id",
    )

    def __init__(
        self,
        id: str,
        channel_id: str,
        author: dict[str, Any],
        *,
        kind: int = 0,
        interaction_id: str | None = None,
        webhook_id: str | None = None,
    ) -> None:
        self.id = id
        self.channel_id = channel_id
        self.author = author
        self.kind = kind
        self.interaction_id = interaction_id
        self.webhook_id = webhook_id
        self.content = ""
        self.embeds: list[dict[str, Any]] = []
        self.components: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.flags = 0
        self.tts = False
        self.allowed_mentions: dict[str, Any] | None = None
        self.payload: dict[str, Any] = {}
        self.edits: list[dict[str, Any]] = []
        self.deleted = False
        self.thread_id: str | None = None
        self.timestamp = iso_now()

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def apply(
        self, data: dict[str, Any], attachments: list[dict[str, Any]] | None
    ) -> None:
        """Set the fields ``data`` carries; absent keys keep their value."""
        if "content" in data:
            self.content = data["content"] or ""
        if "embeds" in data:
            self.embeds = data["embeds"] or []
        if "components" in data:
            self.components = data["components"] or []
        if "flags" in data and data["flags"] is not None:
            # Only a few flags are settable; ephemeral and loading are kept.
            self.flags = (self.flags & (EPHEMERAL | LOADING)) | (
                int(data["flags"]) & ~(EPHEMERAL | LOADING)
            )
        if "allowed_mentions" in data:
            self.allowed_mentions = data["allowed_mentions"]
        self.tts = bool(data.get("tts", self.tts))
        if attachments is not None:
            self.attachments = attachments

    def record_edit(self, data: dict[str, Any]) -> None:
        self.edits.append(copy.deepcopy(data))

    def to_payload(self, guild_id: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": self.id,
            "channel_id": self.channel_id,
            "type": self.kind,
            "content": self.content,
            "author": self.author,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": self.attachments,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": self.tts,
            "flags": self.flags,
            "timestamp": self.timestamp,
            "edited_timestamp": iso_now() if self.edits else None,
        }
        if guild_id is not None:
            payload["guild_id"] = guild_id
        if self.webhook_id is not None:
            payload["webhook_id"] = self.webhook_id
        return payload


class FakeThread:
    __slots__ = (
        "archived",
        "auto_archive_duration",
        "created_at",
        "edits",
        "id",
        "kind",
        "locked",
        "name",
        "owner_id",
        "parent_id",
    )

    def __init__(
        self, id: str, parent_id: str, owner_id: str, name: str, *, kind: int = 11
    ) -> None:
        self.id = id
        self.parent_id = parent_id
        self.owner_id = owner_id
        self.name = name
        self.kind = kind
        self.archived = False
        self.locked = False
        self.auto_archive_duration = 1440
        self.created_at = iso_now()
        self.edits: list[dict[str, Any]] = []

    def to_payload(self, guild_id: str, message_count: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "guild_id": guild_id,
            "parent_id": self.parent_id,
            "owner_id": self.owner_id,
            "name": self.name,
            "type": self.kind,
            "last_message_id": None,
            "message_count": message_count,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": self.created_at,
                "locked": self.locked,
                "create_timestamp": self.created_at,
            },
        }


@dataclass(slots=True, eq=False)
class FakeInteraction:
    """One dispatched interaction and everything the bot did with it.

    ``original`` is the response message (for a thinking defer, the loading message
    that the first followup fills in); ``followups`` are the later, separate messages.
    """

    id: str
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: str
    user_id: str
    attachment_size_limit: int
    message_id: str | None = None
    dispatched_at: float = 0.0
    acked_at: float | None = None
    late_callback_at: float | None = None
    response_type: int | None = None
    response: dict[str, Any] | None = None
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    _acked: asyncio.Event | None = None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from the gateway dispatch to the accepted callback."""
        return None if self.acked_at is None else self.acked_at - self.dispatched_at

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and self.original.ephemeral

    @property
    def content(self) -> str | None:
        return None if self.original is None else self.original.content

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return [] if self.original is None else self.original.embeds

    def mark_acked(self, at: float) -> None:
        self.acked_at = at
        if self._acked is not None:
            self._acked.set()

    async def wait_acked(self, timeout: float = 5.0) -> float:  # noqa: ASYNC109
        """Wait for the bot's callback; returns the ack latency."""
        if self.acked_at is None:
            if self._acked is None:
                self._acked = asyncio.Event()
            await asyncio.wait_for(self._acked.wait(), timeout)
        assert self.acked_at is not None
        return self.acked_at - self.dispatched_at
