"""A fake Slack on 127.0.0.1: the Web API, uploads, private files and Socket Mode.

slack-sdk and slack-bolt run unmodified against it: the bot's ``SLACK_API_URL``
points at ``api_url`` and, in Socket Mode, ``apps.connections.open`` hands out
``ws://127.0.0.1:PORT/link``. It models the parts of real Slack that shape the bot:
Bearer auth, ``chat.update``'s per-workspace Tier 3 limit (429 + Retry-After), the
three-step external upload, ``url_private`` that serves an HTML login page without
a token, ``response_url``'s five uses, and Socket Mode acks matched by envelope id.
It lives in the test process, so its state survives restarts of a bot subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

from aiohttp import WSMsgType, web

from tests.fakes.slack_methods import HANDLERS
from tests.fakes.slack_records import Call, Message, UploadedFile

# Methods under Tier 3 ("50+ per minute" per workspace); chat.update is the one that
# a busy bot hits, because every job edits its status message.
TIER3_METHODS = frozenset({"chat.update"})
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60
ACK_TIMEOUT = 3.0
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
LOGIN_PAGE = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"


@dataclass
class _Waiter:
    match: Callable[[Call], bool]
    count: int
    future: asyncio.Future[list[Call]]
    found: list[Call]


class FakeSlack:
    """The fake; an async context manager. See the module docstring."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = "T0FAKE",
        tier3_per_minute: int = 50,
        window: float = 60.0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = "UBOT"
        self.tier3_per_minute = tier3_per_minute
        self.window = window
        self.calls: list[Call] = []
        self.rate_limited = 0
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.uploaded_files: list[UploadedFile] = []
        self.deleted_messages: list[tuple[str, str]] = []
        self.deleted_files: list[str] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        # User-group id -> member user ids (``usergroups.users.list``).
        self.usergroups: dict[str, list[str]] = {}
        self._files: dict[str, tuple[str, bytes, str]] = {}
        self.pending_uploads: dict[str, UploadedFile] = {}
        self._response_born: dict[str, float] = {}
        self._tier3: dict[str, deque[float]] = {}
        self._forced: dict[str, deque[float]] = {}
        self._waiters: list[_Waiter] = []
        self._ids = itertools.count(1)
        self._ts_base = int(time.time())
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_ready = asyncio.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        # The next N uploads answer HTTP 500, to exercise failed deliveries.
        self.fail_uploads = 0
        # Channels the bot has not been invited to: posting there is refused.
        self.outside: set[str] = set()

    # --------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What the bot's ``SLACK_API_URL`` should be."""
        return f"{self.base_url}/api/"

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{file_id}/{name}", self._private_file)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        # A restart after ``stop`` comes back on the same port (the bot reconnects).
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ test set-up

    def add_user(
        self, user_id: str, name: str = "", *, admin: bool = False, owner: bool = False
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name or user_id.lower(),
            "real_name": name or user_id,
            "is_admin": admin,
            "is_owner": owner,
            "is_primary_owner": owner,
            "is_bot": False,
        }

    def add_file(
        self, name: str, data: bytes, mimetype: str = "image/png"
    ) -> dict[str, Any]:
        """Host ``data`` behind Bearer auth; return Slack's file object for it."""
        file_id = self.new_id("F")
        self._files[file_id] = (name, data, mimetype)
        # Quoted as Slack does, so a name with "#" or spaces is still one path.
        url = f"{self.base_url}/files-pri/{self.team_id}-{file_id}/{quote(name)}"
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "",
            "size": len(data),
            "url_private": url,
            "url_private_download": f"{url}?download=1",
        }

    def new_response_url(self) -> str:
        rid = uuid.uuid4().hex
        self.responses[rid] = []
        self._response_born[rid] = time.monotonic()
        return f"{self.base_url}/response/{rid}"

    def force_429(self, method: str, retry_after: float = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 + Retry-After."""
        self._forced.setdefault(method, deque()).extend([retry_after] * times)

    # ---------------------------------------------------------------- queries

    def responses_sent(self) -> list[dict[str, Any]]:
        """Everything posted to any ``response_url``, per URL in order."""
        return [payload for uses in self.responses.values() for payload in uses]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str | None = None,
        *,
        where: Callable[[Call], bool] | None = None,
        count: int = 1,
        within: float = 10.0,
    ) -> list[Call]:
        """Wait until ``count`` calls match; return the matching calls."""

        def match(call: Call) -> bool:
            return (method is None or call.method == method) and (
                where is None or where(call)
            )

        found = [c for c in self.calls if match(c)]
        if len(found) >= count:
            return found
        future: asyncio.Future[list[Call]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match, count, future, found)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def thread_messages(self, channel: str, thread_ts: str) -> list[Message]:
        """The thread's parent (the status message) and replies, oldest first."""
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel and thread_ts in (m.ts, m.thread_ts)
        ]
        return sorted(found, key=lambda m: m.ts)

    def channel_messages(self, channel: str) -> list[Message]:
        """Top-level messages of ``channel``, oldest first."""
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel and m.thread_ts is None
        ]
        return sorted(found, key=lambda m: m.ts)

    # ------------------------------------------------------------ Socket Mode

    async def push(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        envelope_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Deliver an envelope; return the ack's payload (``None`` if it had none).

        Raises ``TimeoutError`` when no ack arrives within Slack's 3 seconds.
        """
        await asyncio.wait_for(self._socket_ready.wait(), 10)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type != "events_api",
        }
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason or "timeout"
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._acks[envelope["envelope_id"]] = future
        try:
            await self._sockets[-1].send_str(json.dumps(envelope))
            ack = await asyncio.wait_for(future, ACK_TIMEOUT)
        finally:
            self._acks.pop(envelope["envelope_id"], None)
        result: dict[str, Any] | None = ack.get("payload")
        return result

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._socket_ready.set()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                future = self._acks.get(ack.get("envelope_id", ""))
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self._socket_ready.clear()
        return ws

    # ---------------------------------------------------------------- Web API

    def new_ts(self) -> str:
        """A message timestamp, unique and increasing like Slack's."""
        return f"{self._ts_base}.{next(self._ids):06d}"

    def new_id(self, prefix: str) -> str:
        """A Slack-style id: ``F00000012`` for files, ``V...`` for views."""
        return f"{prefix}{next(self._ids):08d}"

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        for waiter in self._waiters:
            if waiter.future.done() or not waiter.match(call):
                continue
            waiter.found.append(call)
            if len(waiter.found) >= waiter.count:
                waiter.future.set_result(waiter.found)

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(await request.post())
        return args

    def _rate_limit(self, method: str, team: str) -> float | None:
        """Seconds to wait if this call is over the limit, else None (and count it)."""
        forced = self._forced.get(method)
        if forced:
            return forced.popleft()
        if method not in TIER3_METHODS:
            return None
        now = time.monotonic()
        window = self._tier3.setdefault(team, deque())
        while window and window[0] <= now - self.window:
            window.popleft()
        if len(window) >= self.tier3_per_minute:
            return window[0] + self.window - now
        window.append(now)
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        call = Call(time.monotonic(), method, args)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        token = token or args.get("token")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != wanted:
            call.error = "invalid_auth"
            self._record(call)
            return web.json_response({"ok": False, "error": "invalid_auth"})
        retry_after = self._rate_limit(method, self.team_id)
        if retry_after is not None:
            self.rate_limited += 1
            call.status, call.error = 429, "ratelimited"
            self._record(call)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
            )
        handler = HANDLERS.get(method)
        if handler is None:
            call.error = "unknown_method"
            self._record(call)
            return web.json_response({"ok": False, "error": "unknown_method"})
        body = handler(self, args)
        if not body.get("ok", True):
            call.error = body["error"]
        self._record(call)
        return web.json_response({"ok": True, **body})

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.pending_uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        if self.fail_uploads:
            self.fail_uploads -= 1
            return web.Response(status=500, text="upload failed")
        chunks = [chunk async for chunk in request.content.iter_chunked(1 << 16)]
        upload.data = b"".join(chunks)
        return web.Response(text=f"OK - {len(upload.data)}")

    async def _private_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"].rsplit("-", 1)[-1]
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Real Slack answers an unauthenticated url_private with its login page.
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        if file_id not in self._files:
            return web.Response(status=404)
        _, data, mimetype = self._files[file_id]
        return web.Response(body=data, content_type=mimetype)

    async def _response(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        uses = self.responses.get(rid)
        expired = time.monotonic() - self._response_born.get(rid, 0) > RESPONSE_URL_TTL
        if uses is None or expired:
            return web.Response(status=404, text="expired_url")
        if len(uses) >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        uses.append(await request.json())
        return web.Response(text="ok")
