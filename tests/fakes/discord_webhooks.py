"""Interaction callbacks and interaction-token webhook routes, with Discord's clocks.

- The callback must arrive within ``ack_deadline`` (3 s) of the dispatch, once:
  late -> 404 10062 "Unknown interaction", twice -> 400 40060.
- The token works for ``token_lifetime`` (15 min): after that every webhook call
  is 401 50027 "Invalid Webhook Token", counted in ``fake.invalid_token_calls``.
- After a thinking defer (type 5) the first followup fills in the loading
  message instead of posting a new one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_gateway import GUILD_MESSAGES_INTENT
from tests.fakes.discord_http import API, BODY, FILES, json_response, no_content
from tests.fakes.discord_limits import DiscordError, check_message, form_error
from tests.fakes.discord_records import EPHEMERAL, LOADING, FakeInteraction, FakeMessage
from tests.fakes.discord_rest import MessageWriter

if TYPE_CHECKING:
    from tests.fakes.discord_state import DiscordState

SLASH, COMPONENT, MODAL_SUBMIT = 2, 3, 5
MESSAGE, DEFER, DEFER_UPDATE, UPDATE, AUTOCOMPLETE, MODAL = 4, 5, 6, 7, 8, 9


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


class WebhookRoutes:
    def __init__(self, fake: DiscordState, writer: MessageWriter) -> None:
        self._fake = fake
        self._writer = writer

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_post(
            API + "/interactions/{interaction_id}/{token}/callback", self.callback
        )
        base = API + "/webhooks/{app_id}/{token}"
        r.add_post(base, self.followup)
        r.add_get(base + "/messages/{message_id}", self.get_message)
        r.add_patch(base + "/messages/{message_id}", self.edit_message)
        r.add_delete(base + "/messages/{message_id}", self.delete_message)

    async def callback(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        fake = self._fake
        inter = fake.interactions.get(request.match_info["interaction_id"])
        if inter is None or inter.token != request.match_info["token"]:
            raise unknown_interaction()
        if inter.acked_at is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if now > inter.dispatched_at + fake.ack_deadline:
            inter.late_callback_at = now
            raise unknown_interaction()
        body = request[BODY] or {}
        kind = body.get("type")
        resource = self._respond(inter, kind, body.get("data") or {}, request[FILES])
        inter.response_type = kind
        inter.response = body
        inter.mark_acked(now)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        original = inter.original
        return json_response(
            {
                "interaction": {
                    "id": inter.id,
                    "type": inter.type,
                    "response_message_id": None if original is None else original.id,
                    "response_message_loading": original is not None
                    and original.loading,
                    "response_message_ephemeral": original is not None
                    and original.ephemeral,
                },
                "resource": resource,
            }
        )

    def _respond(
        self, inter: FakeInteraction, kind: Any, data: dict[str, Any], files: list[Any]
    ) -> dict[str, Any]:
        fake = self._fake
        resource: dict[str, Any] = {"type": kind}
        limit = inter.attachment_size_limit
        from_message = inter.message_id is not None
        if kind in (MESSAGE, DEFER):
            if inter.type not in (SLASH, COMPONENT, MODAL_SUBMIT):
                raise form_error("type", "Interaction response type not allowed here.")
            flags = int(data.get("flags") or 0) & EPHEMERAL
            if kind == DEFER:
                # Only the ephemeral flag matters for a defer; the rest comes later.
                data, files = {"flags": flags}, []
            message = self._writer.create(
                inter.channel_id,
                data,
                files,
                limit=limit,
                kind=20 if inter.type == SLASH else 0,
                interaction_id=inter.id,
                webhook_id=fake.app_id,
                loading=kind == DEFER,
            )
            inter.original = message
            resource["message"] = fake.message_payload(message)
        elif kind in (DEFER_UPDATE, UPDATE):
            if not from_message:
                raise form_error(
                    "type", "Only component interactions can update a message."
                )
            updated = fake.message(inter.message_id or "")
            if updated is None:
                raise unknown_message()
            inter.original = updated
            if kind == UPDATE:
                self._writer.edit(updated, data, files, limit=limit)
                resource["message"] = fake.message_payload(updated)
        elif kind == MODAL:
            if inter.type == MODAL_SUBMIT:
                raise form_error("type", "A modal cannot answer a modal.")
            if (
                not data.get("custom_id")
                or not data.get("title")
                or not data.get("components")
            ):
                raise form_error(
                    "data", "A modal needs custom_id, title and components."
                )
            inter.modal = data
        elif kind != AUTOCOMPLETE:
            raise form_error("type", f"Unknown interaction response type {kind!r}.")
        return resource

    def _live(self, request: web.Request) -> FakeInteraction:
        fake = self._fake
        inter = fake.interaction_by_token(request.match_info["token"])
        if inter is None or request.match_info["app_id"] != fake.app_id:
            raise unknown_webhook()
        if time.monotonic() > inter.dispatched_at + fake.token_lifetime:
            fake.invalid_token_calls += 1
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if inter.acked_at is None:
            # Before the ack, or after a missed deadline, the token is unusable.
            raise unknown_webhook()
        return inter

    def _target(self, inter: FakeInteraction, message_id: str) -> FakeMessage:
        if message_id == "@original":
            message = inter.original
        else:
            candidates = [inter.original, *inter.followups]
            message = next(
                (m for m in candidates if m is not None and m.id == message_id), None
            )
        if message is None or message.deleted:
            raise unknown_message()
        return message

    async def followup(self, request: web.Request) -> web.Response:
        fake = self._fake
        inter = self._live(request)
        data, files = request[BODY] or {}, request[FILES]
        original = inter.original
        if inter.response_type == DEFER and original is not None and original.loading:
            check_message(data, len(files), creating=True)
            self._writer.edit(original, data, files, limit=inter.attachment_size_limit)
            original.flags &= ~LOADING
            message = original
        else:
            message = self._writer.create(
                inter.channel_id,
                data,
                files,
                limit=inter.attachment_size_limit,
                interaction_id=inter.id,
                webhook_id=fake.app_id,
            )
            inter.followups.append(message)
        if request.query.get("wait") in ("0", "false", "False"):
            return no_content()
        return json_response(fake.message_payload(message))

    async def get_message(self, request: web.Request) -> web.Response:
        inter = self._live(request)
        message = self._target(inter, request.match_info["message_id"])
        return json_response(self._fake.message_payload(message))

    async def edit_message(self, request: web.Request) -> web.Response:
        inter = self._live(request)
        message = self._target(inter, request.match_info["message_id"])
        self._writer.edit(
            message,
            request[BODY] or {},
            request[FILES],
            limit=inter.attachment_size_limit,
        )
        # Editing the deferred response is also how it stops "thinking".
        message.flags &= ~LOADING
        return json_response(self._fake.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        inter = self._live(request)
        message = self._target(inter, request.match_info["message_id"])
        message.deleted = True
        if not message.ephemeral:
            payload = {
                "id": message.id,
                "channel_id": message.channel_id,
                "guild_id": self._fake.guild_of(message.channel_id),
            }
            self._fake.gateway.echo(GUILD_MESSAGES_INTENT, "MESSAGE_DELETE", payload)
        return no_content()
