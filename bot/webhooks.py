"""Standard Webhooks signatures, as OpenAI signs its project webhooks.

One implementation for both sides: the bot verifies with ``verify_standard_webhook``
and the simulator signs with ``sign_standard_webhook``, so a test that passes proves
the two agree with the spec (https://www.standardwebhooks.com/) and not merely with
each other's copy. The rules follow ``openai/lib/_webhooks.py`` (SDK 3.54):

* headers ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
  ``webhook-signature``: a space-separated list of ``v1,<base64 HMAC-SHA256>``;
* the signed content is ``f"{id}.{timestamp}.{raw body}"``;
* the key is ``base64decode(secret[6:])`` for a ``whsec_`` secret, else the secret's
  UTF-8 bytes;
* a timestamp more than five minutes away from now, in either direction, is
  refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from bot.errors import BotError, ConfigError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = 300.0
_SECRET_PREFIX = "whsec_"  # noqa: S105 (the format marker, not a secret)


class WebhookVerificationError(BotError):
    """The webhook is not provably from the holder of the secret; refuse it.

    Messages name what was wrong (missing header, stale timestamp, no matching
    signature) and never contain the secret or the body.
    """


def webhook_key(secret: str) -> bytes:
    """The HMAC key for ``secret``; raises ``ConfigError`` for a broken ``whsec_``."""
    if not secret.startswith(_SECRET_PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret[len(_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "SORA_WEBHOOK_SECRET starts with whsec_ but the rest is not valid "
            "base64; copy the secret again from the OpenAI dashboard."
        ) from None


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        # Plain dicts are case-sensitive; HTTP header names are not.
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if not value:
        raise WebhookVerificationError(f"missing {name} header")
    return value


def verify_standard_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Return if ``body`` was signed with ``secret``; raise otherwise.

    Args:
        body: the raw request body, exactly as received (not re-serialised JSON).
        headers: the request headers (any case).
        secret: ``SORA_WEBHOOK_SECRET``, with or without the ``whsec_`` prefix.
        tolerance: how far, in seconds, the timestamp may be from ``now``.
        now: the current unix time; tests pass a fixed one.

    Raises:
        WebhookVerificationError: missing headers, a timestamp outside the
            tolerance, or no ``v1`` signature that matches.
        ConfigError: ``secret`` is a ``whsec_`` secret that is not base64.
    """
    msg_id = _header(headers, ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if current - sent_at > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if sent_at - current > tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")

    expected = _signature(webhook_key(secret), msg_id, timestamp, body)
    for candidate in signatures.split():
        version, _, sig = candidate.partition(",")
        # Only v1 (symmetric HMAC) exists for OpenAI; v1a (asymmetric) is skipped.
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return
    raise WebhookVerificationError("no webhook-signature matches")


def sign_standard_webhook(
    body: bytes, secret: str, *, msg_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers a Standard Webhooks sender attaches to ``body``.

    The simulator uses this to send OpenAI-style ``video.completed`` events; tests
    use it to forge good and bad deliveries.
    """
    sent_at = str(int(time.time()) if timestamp is None else timestamp)
    sig = _signature(webhook_key(secret), msg_id, sent_at, body).decode()
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: sent_at,
        SIGNATURE_HEADER: f"v1,{sig}",
    }
