"""A wire-level fake Discord that an unmodified discord.py client logs into.

One aiohttp server on 127.0.0.1 (port 0) serves the REST API under
``/api/v10``, the gateway websocket at ``/gateway`` and a CDN at ``/cdn``.
Point discord.py at it with ``discord.http.Route.BASE = fake.api_url`` and
``DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)`` (the bot does
this from ``DISCORD_API_URL`` / ``DISCORD_GATEWAY_URL``).

Tests drive users (``send_slash``, ``send_message_command`` on a message from
``post_as_user``, ``click``, ``submit_modal``) and assert on
``calls``, ``messages(channel_id)``, ``threads`` and the returned interactions.

Rules enforced, as on Discord: the 3 s ack (``ack_deadline``; late -> 404 10062,
twice -> 400 40060), the interaction token lifetime (``token_lifetime``; then
401 50027, counted in ``invalid_token_calls``), message/embed/component limits
(400 50035), 10 attachments, the upload limit (``upload_limit`` or the
interaction's ``attachment_size_limit``; 413 40005), rate limits with real
headers (``limiter.route_limits``: 5 posts and 5 edits per 5 s per channel or
thread; 50 req/s global for bot-token routes; 429s counted in ``rate_limited``
per route template; ``force_429`` for more), archived threads (400 50083).
Gateway echoes (MESSAGE_CREATE/UPDATE/DELETE, THREAD_CREATE/UPDATE) follow the
intents the client identified with.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.discord_http import API, build_middleware
from tests.fakes.discord_records import Call, FakeInteraction, FakeMessage, FakeThread
from tests.fakes.discord_rest import MessageWriter, RestRoutes
from tests.fakes.discord_state import (
    BOT_PERMISSIONS,
    MODERATOR_PERMISSIONS,
    USER_PERMISSIONS,
    DiscordState,
    UserArg,
)
from tests.fakes.discord_webhooks import WebhookRoutes

__all__ = [
    "BOT_PERMISSIONS",
    "MODERATOR_PERMISSIONS",
    "USER_PERMISSIONS",
    "Call",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMessage",
    "FakeThread",
]

Match = Callable[[Call], bool] | tuple[str, str]


class FakeDiscord(DiscordState):
    """See the module docstring; constructor arguments are ``DiscordState``'s."""

    _runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(
            middlewares=[build_middleware(self)], client_max_size=1 << 30
        )
        writer = MessageWriter(self)
        RestRoutes(self, writer).add_to(app)
        WebhookRoutes(self, writer).add_to(app)
        app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # A restart after ``stop`` comes back on the same port, where the bot
        # reconnects.
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- users acting ------------------------------------------------------------

    async def _dispatch(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: UserArg,
        member_permissions: int | None,
        channel_id: str | None,
        attachment_size_limit: int | None,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        user_payload = self.user(user)
        permissions = (
            USER_PERMISSIONS if member_permissions is None else member_permissions
        )
        channel = str(
            channel_id or (message.channel_id if message else self.channel_id)
        )
        limit = (
            self.upload_limit
            if attachment_size_limit is None
            else attachment_size_limit
        )
        guild_id = self.guild_of(channel)
        iid = self.ids.next()
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": kind,
            "token": f"itok.{iid}.{secrets.token_urlsafe(24)}",
            "version": 1,
            "attachment_size_limit": limit,
            "data": data,
            "guild_id": guild_id,
            "guild": {"id": guild_id, "locale": "en-US", "features": []},
            "channel_id": channel,
            "channel": self.channel_payload(channel),
            "member": self.member_payload(user_payload["id"], permissions),
            "app_permissions": str(BOT_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
        }
        if message is not None:
            payload["message"] = self.message_payload(message)
        inter = FakeInteraction(
            iid,
            payload["token"],
            kind,
            payload,
            channel,
            user_payload["id"],
            limit,
            message_id=None if message is None else message.id,
        )
        self.interactions[iid] = inter
        self._by_token[inter.token] = inter
        # Stamped before sending: the bot may answer before send() returns.
        inter.dispatched_at = time.monotonic()
        await self.gateway.send("INTERACTION_CREATE", payload)
        return inter

    def _options(
        self, name: str, options: Any, resolved: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if not isinstance(options, Mapping):
            return list(options or [])
        command = self.command(name) or {}
        types = {o["name"]: o.get("type") for o in command.get("options") or []}
        result = []
        for key, value in options.items():
            if isinstance(value, Mapping) and "url" in value:
                resolved.setdefault("attachments", {})[value["id"]] = dict(value)
                result.append({"name": key, "type": 11, "value": value["id"]})
                continue
            guessed = (
                5
                if isinstance(value, bool)
                else 4
                if isinstance(value, int)
                else 10
                if isinstance(value, float)
                else 3
            )
            result.append(
                {"name": key, "type": types.get(key) or guessed, "value": value}
            )
        return result

    async def send_slash(
        self,
        name: str,
        options: Mapping[str, Any] | list[dict[str, Any]] | None = None,
        *,
        user: UserArg = "alice",
        member_permissions: int | None = None,
        resolved: dict[str, Any] | None = None,
        attachment_size_limit: int | None = None,
        channel_id: str | None = None,
    ) -> FakeInteraction:
        """A user runs ``/name``. ``options`` is either the raw option list or a
        ``{name: value}`` mapping (types from the synced command; attachment dicts
        from ``add_cdn_attachment`` are resolved automatically)."""
        resolved = dict(resolved or {})
        data: dict[str, Any] = {
            "name": name,
            "type": 1,
            "options": self._options(name, options, resolved),
        }
        guild_id = self.guild_of(channel_id or self.channel_id)
        guild_command = any(
            c["name"] == name for c in self.guild_commands.get(guild_id, ())
        )
        command = self.command(name)
        data["id"] = command["id"] if command else self.ids.next()
        if guild_command:
            # discord.py looks commands up by the command's guild, not the channel's.
            data["guild_id"] = guild_id
        if resolved:
            data["resolved"] = resolved
        return await self._dispatch(
            2,
            data,
            user=user,
            member_permissions=member_permissions,
            channel_id=channel_id,
            attachment_size_limit=attachment_size_limit,
        )

    def post_as_user(
        self,
        content: str = "",
        *,
        attachments: list[dict[str, Any]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        user: UserArg = "alice",
        channel_id: str | None = None,
    ) -> FakeMessage:
        """A member's message in a channel (``attachments`` from
        ``add_cdn_attachment``), for message commands to point at."""
        message = FakeMessage(
            self.ids.next(), str(channel_id or self.channel_id), self.user(user)
        )
        message.content = content
        message.attachments = list(attachments or [])
        message.embeds = list(embeds or [])
        message.payload = self.message_payload(message)
        self.add_message(message)
        return message

    async def send_message_command(
        self,
        name: str,
        message: FakeMessage,
        *,
        user: UserArg = "alice",
        member_permissions: int | None = None,
        attachment_size_limit: int | None = None,
    ) -> FakeInteraction:
        """A user picks the message command ``name`` (Apps menu) on ``message``:
        an APPLICATION_COMMAND of type 3 (MESSAGE) whose target is resolved in
        ``data.resolved.messages``, as Discord sends it."""
        command = self.command(name)
        data: dict[str, Any] = {
            "id": command["id"] if command else self.ids.next(),
            "name": name,
            "type": 3,
            "target_id": message.id,
            "resolved": {"messages": {message.id: self.message_payload(message)}},
        }
        return await self._dispatch(
            2,
            data,
            user=user,
            member_permissions=member_permissions,
            channel_id=message.channel_id,
            attachment_size_limit=attachment_size_limit,
        )

    async def click(
        self,
        message_id: str,
        custom_id: str,
        *,
        user: UserArg = "alice",
        member_permissions: int | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """A user presses a button (or picks ``values`` in a select) on a message."""
        message = self.message(message_id)
        if message is None:
            raise KeyError(f"no message {message_id}")
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "component_type": component_type,
        }
        if values is not None:
            data["values"] = values
        return await self._dispatch(
            3,
            data,
            user=user,
            member_permissions=member_permissions,
            channel_id=None,
            attachment_size_limit=None,
            message=message,
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, str],
        *,
        user: UserArg = "alice",
        member_permissions: int | None = None,
    ) -> FakeInteraction:
        """A user submits the modal the bot last opened with ``custom_id``.

        The submitted components mirror that modal's layout (action rows or
        labels), as Discord does; without such a modal, plain action rows."""
        source = next(
            (
                i
                for i in reversed(self.interactions.values())
                if i.modal and i.modal.get("custom_id") == custom_id
            ),
            None,
        )
        rows: list[dict[str, Any]] = []
        layout = source.modal["components"] if source and source.modal else None
        for row in layout or [
            {"type": 1, "components": [{"type": 4, "custom_id": k}]} for k in values
        ]:
            if row.get("type") == 18:
                inner = row["component"]
                value = {
                    "type": inner["type"],
                    "custom_id": inner["custom_id"],
                    "value": values.get(inner["custom_id"], ""),
                }
                rows.append({"type": 18, "id": row.get("id"), "component": value})
            else:
                children = [
                    {
                        "type": c["type"],
                        "custom_id": c["custom_id"],
                        "value": values.get(c["custom_id"], ""),
                    }
                    for c in row.get("components", [])
                ]
                rows.append({"type": 1, "components": children})
        message = (
            self.message(source.message_id) if source and source.message_id else None
        )
        return await self._dispatch(
            5,
            {"custom_id": custom_id, "components": rows},
            user=user,
            member_permissions=member_permissions,
            channel_id=source.channel_id if source else None,
            attachment_size_limit=None,
            message=message,
        )

    async def wait_for(
        self,
        match: Match,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> Call:
        """The first finished call from index ``since`` on that matches either a
        predicate or a ``(method, path_prefix)`` pair (paths omit ``/api/v10``)."""
        if callable(match):
            predicate = match
        else:
            method, prefix = match
            predicate = lambda c: c.method == method and c.path.startswith(prefix)  # noqa: E731

        cursor = since

        def found() -> Call | None:
            # Skip what was already checked; unfinished calls (status 0) stay in view.
            nonlocal cursor
            calls = self.calls
            for index in range(cursor, len(calls)):
                if calls[index].status and predicate(calls[index]):
                    return calls[index]
            while cursor < len(calls) and calls[cursor].status:
                cursor += 1
            return None

        try:
            call: Call = await self.wait_until(found, timeout)
        except TimeoutError:
            seen = [f"{c.method} {c.path} -> {c.status}" for c in self.calls[-15:]]
            raise TimeoutError(
                f"no call matched {match!r}; last calls: {seen}"
            ) from None
        return call

    async def wait_for_bot(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        after: int | None = None,
        commands: bool = True,
    ) -> None:
        """Until a bot has IDENTIFIED (the ``after``-th identify or later when given,
        e.g. ``fake.gateway.identify_count`` taken before a restart) and, unless
        ``commands=False``, has synced commands."""
        gateway = self.gateway

        def ready() -> bool:
            # Connected: the session of the server's shard is up.
            identified = gateway.connected and (
                after is None or gateway.identify_count > after
            )
            return identified and (self.sync_count > 0 or not commands)

        await self.wait_until(ready, timeout)

    def force_429(
        self, method: str, path_prefix: str, retry_after: float = 0.5, times: int = 1
    ) -> None:
        """Answer the next ``times`` matching calls with a 429 (prefix as in .calls)."""
        self.limiter.force(method, path_prefix.removeprefix(API), retry_after, times)

    async def disconnect_bot(self, code: int = 4000) -> None:
        """Close the gateway socket (the bot then RESUMEs on a new one)."""
        await self.gateway.close_all(code)

    def __repr__(self) -> str:
        return f"<FakeDiscord {self.base} calls={len(self.calls)}>"
