"""What Slack sends a bot: request bodies, signatures, and the two ways to deliver.

``HttpDelivery`` POSTs signed requests to the bot's ``/slack/events`` like Slack's
servers do; ``SocketDelivery`` pushes the same payloads through the fake's Socket
Mode websocket. Tests written against ``Delivery`` run in both modes.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack import FakeSlack

SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C0GENERAL"
USER = "U0ALICE"


def signed_headers(
    body: str,
    secret: str = SIGNING_SECRET,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Slack's ``v0`` HMAC-SHA256 signature over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }


def trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


def slash_command(
    fake: FakeSlack,
    text: str,
    *,
    command: str = "/sora",
    user_id: str = USER,
    user_name: str = "alice",
    channel_id: str = CHANNEL,
) -> dict[str, str]:
    return {
        "token": "deprecated-verification-token",
        "team_id": fake.team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": "general",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0SORA",
        "is_enterprise_install": "false",
        "response_url": fake.new_response_url(),
        "trigger_id": trigger_id(),
    }


def _user(fake: FakeSlack, user_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "team_id": fake.team_id}


def view_submission(
    fake: FakeSlack,
    view: dict[str, Any],
    values: dict[str, Any],
    *,
    user_id: str = USER,
) -> dict[str, Any]:
    """The bot's own modal (as opened), submitted with ``values`` as its state."""
    return {
        "type": "view_submission",
        "team": {"id": fake.team_id, "domain": "fake"},
        "user": _user(fake, user_id),
        "api_app_id": "A0SORA",
        "trigger_id": trigger_id(),
        "view": {**view, "state": {"values": values}},
    }


def form_values(
    prompt: str,
    *,
    model: str = "sora-2",
    seconds: int = 10,
    orientation: str = "landscape",
    extras: tuple[str, ...] = (),
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """State values of the ``/sora`` form as Slack reports them on submission."""

    def selected(value: str) -> dict[str, Any]:
        return {"selected_option": {"value": value}}

    return {
        "prompt": {"value": {"type": "plain_text_input", "value": prompt}},
        "model": {"value": {"type": "static_select", **selected(model)}},
        "seconds": {"value": {"type": "static_select", **selected(str(seconds))}},
        "orientation": {"value": {"type": "radio_buttons", **selected(orientation)}},
        "extras": {
            "value": {
                "type": "checkboxes",
                "selected_options": [{"value": e} for e in extras],
            }
        },
        "image": {"value": {"type": "file_input", "files": files or []}},
    }


def block_action(
    fake: FakeSlack,
    action_id: str,
    value: str,
    *,
    user_id: str = USER,
    channel_id: str = CHANNEL,
    message_ts: str = "",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": fake.team_id, "domain": "fake"},
        "user": _user(fake, user_id),
        "api_app_id": "A0SORA",
        "trigger_id": trigger_id(),
        "channel": {"id": channel_id, "name": "general"},
        "container": {"type": "message", "message_ts": message_ts},
        "message": {"ts": message_ts, "text": ""},
        "response_url": fake.new_response_url(),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "task",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }


def message_shortcut(
    fake: FakeSlack,
    message: dict[str, Any],
    *,
    callback_id: str = "animate_with_sora",
    user_id: str = USER,
    channel_id: str = CHANNEL,
) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "team": {"id": fake.team_id, "domain": "fake"},
        "user": _user(fake, user_id),
        "channel": {"id": channel_id, "name": "general"},
        "message": message,
        "message_ts": message.get("ts", ""),
        "response_url": fake.new_response_url(),
        "trigger_id": trigger_id(),
    }


def app_mention(
    fake: FakeSlack, text: str, *, channel_id: str = CHANNEL
) -> dict[str, Any]:
    ts = f"{int(time.time())}.000100"
    return {
        "type": "event_callback",
        "team_id": fake.team_id,
        "api_app_id": "A0SORA",
        "event_id": f"Ev{uuid.uuid4().hex[:10]}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": USER,
            "text": text,
            "ts": ts,
            "channel": channel_id,
        },
    }


@dataclass
class Ack:
    """Slack's view of the bot's answer: HTTP status and body (or ack payload)."""

    status: int
    body: Any  # None for an empty ack, else a dict such as {"text": ...}
    seconds: float


def _as_slack_reads(text: str) -> Any:
    """A plain-text ack body is shown as a message's text, as in Socket Mode."""
    if not text:
        return None
    if text.startswith("{"):
        return json.loads(text)
    return {"text": text}


class Delivery(Protocol):
    async def command(
        self, fields: dict[str, str], *, retry: int | None = None
    ) -> Ack: ...

    async def interactive(
        self, payload: dict[str, Any], *, retry: int | None = None
    ) -> Ack: ...

    async def event(self, body: dict[str, Any], *, retry: int | None = None) -> Ack: ...


class HttpDelivery:
    """Signed POSTs to the bot's ``/slack/events``, as Slack sends them."""

    def __init__(
        self, url: str, session: aiohttp.ClientSession, secret: str = SIGNING_SECRET
    ) -> None:
        self.url = url
        self.session = session
        self.secret = secret

    async def post(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        retry: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Ack:
        sent = headers or signed_headers(body, self.secret, content_type=content_type)
        if retry is not None:
            sent = {
                **sent,
                "X-Slack-Retry-Num": str(retry),
                "X-Slack-Retry-Reason": "timeout",
            }
        started = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=sent) as r:
            text = await r.text()
        return Ack(r.status, _as_slack_reads(text), time.perf_counter() - started)

    async def command(self, fields: dict[str, str], *, retry: int | None = None) -> Ack:
        return await self.post(urlencode(fields), retry=retry)

    async def interactive(
        self, payload: dict[str, Any], *, retry: int | None = None
    ) -> Ack:
        return await self.post(urlencode({"payload": json.dumps(payload)}), retry=retry)

    async def event(self, body: dict[str, Any], *, retry: int | None = None) -> Ack:
        return await self.post(
            json.dumps(body), content_type="application/json", retry=retry
        )


class SocketDelivery:
    """The same payloads as Socket Mode envelopes through the fake's websocket."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake

    async def _push(self, kind: str, payload: dict[str, Any], retry: int | None) -> Ack:
        started = time.perf_counter()
        body = await self.fake.push(kind, payload, retry_attempt=retry)
        return Ack(200, body, time.perf_counter() - started)

    async def command(self, fields: dict[str, str], *, retry: int | None = None) -> Ack:
        return await self._push("slash_commands", dict(fields), retry)

    async def interactive(
        self, payload: dict[str, Any], *, retry: int | None = None
    ) -> Ack:
        return await self._push("interactive", payload, retry)

    async def event(self, body: dict[str, Any], *, retry: int | None = None) -> Ack:
        return await self._push("events_api", body, retry)
