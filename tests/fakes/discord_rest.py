"""The fake's bot-token REST routes: login, command sync, channels, messages,
threads and the CDN, plus the message writer shared with the webhook routes.

Interaction callbacks and webhook routes live in ``discord_webhooks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_gateway import GUILD_MESSAGES_INTENT, GUILDS_INTENT
from tests.fakes.discord_http import API, BODY, FILES, json_response, no_content
from tests.fakes.discord_limits import DiscordError, check_message, form_error
from tests.fakes.discord_records import (
    EPHEMERAL,
    LOADING,
    FakeFile,
    FakeMessage,
    FakeThread,
)

if TYPE_CHECKING:
    from tests.fakes.discord_state import DiscordState


class MessageWriter:
    """Creates and edits messages with Discord's checks; shared with webhooks."""

    def __init__(self, fake: DiscordState) -> None:
        self._fake = fake

    def check_uploads(self, files: list[FakeFile], limit: int) -> None:
        if any(len(f.data) > limit for f in files):
            raise DiscordError(413, 40005, "Request entity too large")

    def _attachments(
        self,
        data: dict[str, Any],
        files: list[FakeFile],
        current: list[dict[str, Any]],
        channel_id: str,
    ) -> list[dict[str, Any]] | None:
        entries = data.get("attachments")
        if entries is None and not files:
            return None
        kept = {a["id"]: a for a in current}
        result: list[dict[str, Any]] = []
        used: set[int] = set()
        for entry in entries or []:
            key = str(entry.get("id"))
            if key in kept:
                result.append(kept[key])
            elif key.isdigit() and int(key) < len(files):
                used.add(int(key))
                result.append(
                    self._fake.store_upload(channel_id, files[int(key)], entry)
                )
        result.extend(
            self._fake.store_upload(channel_id, f, {})
            for n, f in enumerate(files)
            if n not in used
        )
        return result

    def create(
        self,
        channel_id: str,
        data: dict[str, Any],
        files: list[FakeFile],
        *,
        limit: int,
        author: dict[str, Any] | None = None,
        kind: int = 0,
        interaction_id: str | None = None,
        webhook_id: str | None = None,
        message_id: str | None = None,
        loading: bool = False,
    ) -> FakeMessage:
        check_message(data, len(files), creating=not loading)
        self.check_uploads(files, limit)
        fake = self._fake
        message = FakeMessage(
            message_id or fake.ids.next(),
            channel_id,
            author or fake.bot_user,
            kind=kind,
            interaction_id=interaction_id,
            webhook_id=webhook_id,
        )
        flags = int(data.get("flags") or 0)
        if webhook_id is None:
            flags &= ~EPHEMERAL  # only interaction messages can be ephemeral
        message.flags = flags | (LOADING if loading else 0)
        message.apply(data, self._attachments(data, files, [], channel_id))
        message.payload = data
        fake.add_message(message)
        return message

    def edit(
        self,
        message: FakeMessage,
        data: dict[str, Any],
        files: list[FakeFile],
        *,
        limit: int,
    ) -> None:
        check_message(data, len(files), creating=False)
        self.check_uploads(files, limit)
        thread = self._fake.threads.get(message.channel_id)
        if thread is not None and thread.archived:
            raise DiscordError(400, 50083, "Thread is archived")
        attachments = self._attachments(
            data, files, message.attachments, message.channel_id
        )
        message.apply(data, attachments)
        message.record_edit(data)
        if not message.ephemeral:
            self._fake.gateway.echo(
                GUILD_MESSAGES_INTENT,
                "MESSAGE_UPDATE",
                self._fake.message_payload(message),
            )


class RestRoutes:
    """Bot-token routes (everything but interaction callbacks and webhooks)."""

    def __init__(self, fake: DiscordState, writer: MessageWriter) -> None:
        self._fake = fake
        self._writer = writer

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_get(API + "/users/@me", self.me)
        r.add_get(API + "/oauth2/applications/@me", self.application)
        r.add_get(API + "/gateway", self.gateway)
        r.add_get(API + "/gateway/bot", self.gateway)
        for prefix in (
            "/applications/{app_id}",
            "/applications/{app_id}/guilds/{guild_id}",
        ):
            r.add_put(API + prefix + "/commands", self.put_commands)
            r.add_get(API + prefix + "/commands", self.get_commands)
        r.add_get(API + "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r.add_get(API + "/channels/{channel_id}", self.get_channel)
        r.add_patch(API + "/channels/{channel_id}", self.patch_channel)
        r.add_get(API + "/channels/{channel_id}/messages", self.list_messages)
        r.add_post(API + "/channels/{channel_id}/messages", self.post_message)
        r.add_get(
            API + "/channels/{channel_id}/messages/{message_id}", self.get_message
        )
        r.add_patch(
            API + "/channels/{channel_id}/messages/{message_id}", self.patch_message
        )
        r.add_delete(
            API + "/channels/{channel_id}/messages/{message_id}", self.delete_message
        )
        r.add_post(
            API + "/channels/{channel_id}/messages/{message_id}/threads",
            self.thread_from_message,
        )
        r.add_post(API + "/channels/{channel_id}/threads", self.thread_without_message)
        r.add_get("/cdn/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn)

    async def me(self, request: web.Request) -> web.Response:
        return json_response(self._fake.bot_user)

    async def application(self, request: web.Request) -> web.Response:
        fake = self._fake
        return json_response(
            {
                "id": fake.app_id,
                "name": "sorabot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": fake.user("owner"),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
            }
        )

    async def gateway(self, request: web.Request) -> web.Response:
        fake = self._fake
        limit = {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 0,
            "max_concurrency": fake.max_concurrency,
        }
        return json_response(
            {
                "url": fake.gateway_url,
                "shards": fake.recommended_shards,
                "session_start_limit": limit,
            }
        )

    async def put_commands(self, request: web.Request) -> web.Response:
        fake = self._fake
        if request.match_info["app_id"] != fake.app_id:
            raise DiscordError(403, 50001, "Missing Access")
        stored = fake.store_commands(
            request.match_info.get("guild_id"), request[BODY] or []
        )
        return json_response(stored)

    async def get_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info.get("guild_id")
        commands = (
            self._fake.global_commands
            if guild_id is None
            else self._fake.guild_commands.get(guild_id, [])
        )
        return json_response(commands)

    async def get_member(self, request: web.Request) -> web.Response:
        member = self._fake.member_payload(request.match_info["user_id"])
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(member)

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(
            self._fake.channel_payload(request.match_info["channel_id"])
        )

    async def patch_channel(self, request: web.Request) -> web.Response:
        fake = self._fake
        channel_id = request.match_info["channel_id"]
        data = request[BODY] or {}
        thread = fake.threads.get(channel_id)
        if thread is None:
            channel = fake.channels.get(channel_id)
            if channel is None:
                raise DiscordError(404, 10003, "Unknown Channel")
            channel.update({k: v for k, v in data.items() if k in ("name", "topic")})
            return json_response(fake.channel_payload(channel_id))
        if "name" in data:
            thread.name = _check_thread_name(data["name"])
        for key in ("archived", "locked", "auto_archive_duration"):
            if key in data:
                setattr(thread, key, data[key])
        thread.edits.append(dict(data))
        payload = fake.channel_payload(channel_id)
        fake.gateway.echo(GUILDS_INTENT, "THREAD_UPDATE", payload)
        return json_response(payload)

    async def list_messages(self, request: web.Request) -> web.Response:
        fake = self._fake
        channel_id = request.match_info["channel_id"]
        fake.channel_payload(channel_id)
        limit = int(request.query.get("limit", "50"))
        newest = list(reversed(fake.messages(channel_id)))[:limit]
        return json_response([fake.message_payload(m) for m in newest])

    async def post_message(self, request: web.Request) -> web.Response:
        fake = self._fake
        channel_id = request.match_info["channel_id"]
        fake.channel_payload(channel_id)
        thread = fake.threads.get(channel_id)
        if thread is not None:
            if thread.locked:
                raise DiscordError(400, 50083, "Thread is archived")
            # Sending into an archived (unlocked) thread un-archives it.
            thread.archived = False
        message = self._writer.create(
            channel_id, request[BODY] or {}, request[FILES], limit=fake.upload_limit
        )
        return json_response(fake.message_payload(message))

    def _message(self, request: web.Request) -> FakeMessage:
        message = self._fake.message(request.match_info["message_id"])
        if (
            message is None
            or message.deleted
            or message.channel_id != request.match_info["channel_id"]
        ):
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self._fake.message_payload(self._message(request)))

    async def patch_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        if message.author["id"] != self._fake.bot_user["id"]:
            raise DiscordError(
                403, 50005, "Cannot edit a message authored by another user"
            )
        self._writer.edit(
            message,
            request[BODY] or {},
            request[FILES],
            limit=self._fake.upload_limit,
        )
        return json_response(self._fake.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        message.deleted = True
        payload = {
            "id": message.id,
            "channel_id": message.channel_id,
            "guild_id": self._fake.guild_of(message.channel_id),
        }
        self._fake.gateway.echo(GUILD_MESSAGES_INTENT, "MESSAGE_DELETE", payload)
        return no_content()

    async def thread_from_message(self, request: web.Request) -> web.Response:
        fake = self._fake
        channel_id = request.match_info["channel_id"]
        if channel_id not in fake.channels:
            fake.channel_payload(channel_id)
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        message = self._message(request)
        if message.thread_id is not None:
            raise DiscordError(
                400, 160004, "A thread has already been created for this message"
            )
        # Discord gives a thread started from a message the message's id.
        thread = self._new_thread(message.id, channel_id, request[BODY] or {})
        message.thread_id = thread.id
        return json_response(fake.channel_payload(thread.id))

    async def thread_without_message(self, request: web.Request) -> web.Response:
        fake = self._fake
        channel_id = request.match_info["channel_id"]
        if channel_id not in fake.channels:
            fake.channel_payload(channel_id)
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        data = request[BODY] or {}
        thread = self._new_thread(
            fake.ids.next(), channel_id, data, kind=int(data.get("type") or 11)
        )
        return json_response(fake.channel_payload(thread.id))

    def _new_thread(
        self, thread_id: str, parent_id: str, data: dict[str, Any], *, kind: int = 11
    ) -> FakeThread:
        fake = self._fake
        name = _check_thread_name(data.get("name"))
        thread = FakeThread(thread_id, parent_id, fake.bot_user["id"], name, kind=kind)
        thread.auto_archive_duration = int(data.get("auto_archive_duration") or 1440)
        fake.threads[thread.id] = thread
        fake.gateway.echo(
            GUILDS_INTENT,
            "THREAD_CREATE",
            {**fake.channel_payload(thread.id), "newly_created": True},
        )
        return thread

    async def cdn(self, request: web.Request) -> web.Response:
        stored = self._fake.cdn.get(request.match_info["attachment_id"])
        if stored is None:
            raise DiscordError(404, 0, "404: Not Found")
        return web.Response(body=stored.data, content_type=stored.content_type)


def _check_thread_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise form_error("name", "Must be between 1 and 100 in length.")
    return name
