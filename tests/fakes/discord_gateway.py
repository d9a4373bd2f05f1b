"""The fake's websocket gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME, chunks.

Frames are JSON text; discord.py only decompresses binary frames, so the
``compress=`` it asks for can be ignored. Sessions outlive their socket so a
client that reconnects can RESUME; a new process IDENTIFYs and gets a new one.

Shards as on Discord: IDENTIFY's ``shard: [id, count]`` (``[0, 1]`` without) picks
which servers a session carries, ``(guild_id >> 22) % count``; each of the fake's
servers (``guild_id`` and any from ``add_guild``) and all its events go to the
session of its shard, whose READY lists it; a shard with none of them lists no
server. ``identified_shards`` records every IDENTIFY's array.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.discord_state import DiscordState

log = logging.getLogger(__name__)

GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9
GUILD_MEMBERS_INTENT = 1 << 1


def shard_of(guild_id: str, count: int) -> int:
    """The shard that carries a server's events (Discord's formula)."""
    return (int(guild_id) >> 22) % count


class GatewaySession:
    __slots__ = ("id", "intents", "seq", "shard", "ws")

    def __init__(self, intents: int, shard: tuple[int, int]) -> None:
        self.id = secrets.token_hex(16)
        self.intents = intents
        self.shard = shard
        self.seq = 0
        self.ws: web.WebSocketResponse | None = None


class Gateway:
    def __init__(self, fake: DiscordState) -> None:
        self._fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        # The connected session of each shard id.
        self.live_shards: dict[int, GatewaySession] = {}
        self.identified_shards: list[tuple[int, int]] = []
        self.identify_count = 0
        self.resume_count = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def live(self) -> GatewaySession | None:
        """The connected session whose shard carries the fake's first server."""
        return self.live_for(self._fake.guild_id)

    def live_for(self, guild_id: str) -> GatewaySession | None:
        """The connected session whose shard carries ``guild_id``."""
        for session in self.live_shards.values():
            if shard_of(guild_id, session.shard[1]) == session.shard[0]:
                return session
        return None

    @property
    def connected(self) -> bool:
        return self.live is not None and self.live.ws is not None

    async def send(self, event: str, data: Any) -> float:
        """Dispatch an event to the bot on its server's shard (the ``guild_id`` in
        ``data``, else the first server's); returns when written."""
        session = self._session_for(data)
        if session is None:
            raise RuntimeError("no bot is connected to the fake Discord gateway")
        return await self._send_to(session, event, data)

    async def _send_to(self, session: GatewaySession, event: str, data: Any) -> float:
        if session.ws is None or session.ws.closed:
            raise RuntimeError("no bot is connected to the fake Discord gateway")
        session.seq += 1
        frame = json.dumps({"op": 0, "s": session.seq, "t": event, "d": data})
        await session.ws.send_str(frame)
        return time.monotonic()

    def _session_for(self, data: Any) -> GatewaySession | None:
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        return self.live_for(str(guild_id or self._fake.guild_id))

    def echo(self, intent: int, event: str, data: Any) -> None:
        """Fire-and-forget event the real gateway sends after a REST write."""
        session = self._session_for(data)
        if session is None or session.ws is None or not session.intents & intent:
            return
        task = asyncio.create_task(self._echo(event, data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _echo(self, event: str, data: Any) -> None:
        try:
            await self.send(event, data)
        except (RuntimeError, ConnectionError):
            log.debug("dropped %s: the bot disconnected", event)

    async def close_all(self, code: int = 1001) -> None:
        for ws in list(self._sockets):
            await ws.close(code=code)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        session: GatewaySession | None = None
        try:
            hello = {"heartbeat_interval": self._fake.heartbeat_interval}
            await ws.send_str(json.dumps({"op": 10, "d": hello}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                session = await self._on_frame(ws, frame, session)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
                if self.live_shards.get(session.shard[0]) is session:
                    del self.live_shards[session.shard[0]]
        return ws

    async def _on_frame(
        self,
        ws: web.WebSocketResponse,
        frame: dict[str, Any],
        session: GatewaySession | None,
    ) -> GatewaySession | None:
        op = frame.get("op")
        data: dict[str, Any] = frame.get("d") or {}
        if op == 1:
            await ws.send_str('{"op": 11}')
        elif op == 2:
            if data.get("token") != self._fake.token:
                await ws.close(code=4004, message=b"Authentication failed.")
                return session
            shard_id, count = data.get("shard") or (0, 1)
            session = GatewaySession(int(data.get("intents", 0)), (shard_id, count))
            self.sessions[session.id] = session
            await self._identify(ws, session)
        elif op == 6:
            session = await self._resume(ws, data)
        elif op == 8:
            await self._chunk(ws, data, session)
        return session

    async def _identify(
        self, ws: web.WebSocketResponse, session: GatewaySession
    ) -> None:
        fake = self._fake
        session.ws = ws
        self.live_shards[session.shard[0]] = session
        self.identified_shards.append(session.shard)
        ours = [
            g
            for g in fake.guild_ids
            if shard_of(g, session.shard[1]) == session.shard[0]
        ]
        ready = {
            "v": 10,
            "user": fake.bot_user,
            "guilds": [{"id": g, "unavailable": True} for g in ours],
            "session_id": session.id,
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": fake.app_id, "flags": 0},
            "private_channels": [],
            "shard": list(session.shard),
        }
        await self._send_to(session, "READY", ready)
        for guild_id in ours:
            await self._send_to(session, "GUILD_CREATE", fake.guild_payload(guild_id))
        self.identify_count += 1
        fake.notify()

    async def _resume(
        self, ws: web.WebSocketResponse, data: dict[str, Any]
    ) -> GatewaySession | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self._fake.token:
            # false: the client must IDENTIFY again with a new session.
            await ws.send_str('{"op": 9, "d": false}')
            return None
        session.ws = ws
        self.live_shards[session.shard[0]] = session
        self.resume_count += 1
        await self._send_to(session, "RESUMED", {})
        self._fake.notify()
        return session

    async def _chunk(
        self,
        ws: web.WebSocketResponse,
        data: dict[str, Any],
        session: GatewaySession | None,
    ) -> None:
        chunk = {
            "guild_id": data.get("guild_id"),
            "members": self._fake.member_payloads(),
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if "nonce" in data:
            # discord.py matches the chunk to its request by this nonce.
            chunk["nonce"] = data["nonce"]
        if session is not None and session.ws is ws:
            await self._send_to(session, "GUILD_MEMBERS_CHUNK", chunk)
