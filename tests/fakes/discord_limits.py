"""Discord's message limits and rate limits, as the fake enforces them.

Numbers come from ``/work/shared/reference/platform-limits.md``: content 2000,
embeds (title 256, description 4096, 25 fields, 6000 total, 10 per message),
10 attachments, 5 message posts and 5 edits per 5 s per channel, 50 requests/s
globally for bot-token routes. Interaction callbacks and webhooks are outside
the global limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any


class DiscordError(Exception):
    """An error answer in Discord's JSON shape; raised by route handlers."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors
        if extra:
            self.body.update(extra)
        self.headers = headers or {}


def form_error(path: str, message: str) -> DiscordError:
    """Discord's 50035 "Invalid Form Body", with the failing field in ``errors``."""
    error = {"code": "BASE_TYPE_MAX_LENGTH", "message": message}
    return DiscordError(
        400, 50035, "Invalid Form Body", errors={path: {"_errors": [error]}}
    )


EMBED_FIELD_LIMITS = (("title", 256), ("description", 4096))


def _embed_chars(embed: dict[str, Any], index: int) -> int:
    where = f"embeds.{index}"
    total = 0
    for key, limit in EMBED_FIELD_LIMITS:
        text = embed.get(key) or ""
        if len(text) > limit:
            raise form_error(f"{where}.{key}", f"Must be {limit} or fewer in length.")
        total += len(text)
    for key, limit in (("footer", 2048), ("author", 256)):
        part = embed.get(key) or {}
        text = part.get("text" if key == "footer" else "name") or ""
        if len(text) > limit:
            raise form_error(f"{where}.{key}", f"Must be {limit} or fewer in length.")
        total += len(text)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise form_error(f"{where}.fields", "Must be 25 or fewer in length.")
    for n, item in enumerate(fields):
        name, value = item.get("name") or "", item.get("value") or ""
        if len(name) > 256 or len(value) > 1024 or not name or not value:
            raise form_error(f"{where}.fields.{n}", "Field name 1-256, value 1-1024.")
        total += len(name) + len(value)
    return total


def _check_components(rows: list[dict[str, Any]]) -> None:
    if len(rows) > 5:
        raise form_error("components", "Must be 5 or fewer in length.")
    for r, row in enumerate(rows):
        children = row.get("components") or []
        if row.get("type") == 1 and len(children) > 5:
            raise form_error(f"components.{r}", "Must be 5 or fewer in length.")
        for c, child in enumerate(children):
            if len(child.get("custom_id") or "") > 100:
                raise form_error(
                    f"components.{r}.components.{c}.custom_id",
                    "Must be 100 or fewer in length.",
                )
            if len(child.get("label") or "") > 80:
                raise form_error(
                    f"components.{r}.components.{c}.label",
                    "Must be 80 or fewer in length.",
                )


def check_message(
    data: dict[str, Any], n_files: int, *, creating: bool, has_attachments: bool = False
) -> None:
    """Raise the DiscordError real Discord would answer for this message body."""
    content = data.get("content") or ""
    if len(content) > 2000:
        raise form_error("content", "Must be 2000 or fewer in length.")
    embeds = data.get("embeds") or []
    if len(embeds) > 10:
        raise form_error("embeds", "Must be 10 or fewer in length.")
    if sum(_embed_chars(e, n) for n, e in enumerate(embeds)) > 6000:
        raise form_error("embeds", "Embed size exceeds maximum size of 6000")
    _check_components(data.get("components") or [])
    if n_files > 10 or len(data.get("attachments") or []) > 10:
        raise DiscordError(
            400, 30015, "Maximum number of attachments in a message reached (10)"
        )
    if creating and not (
        content or embeds or n_files or has_attachments or data.get("components")
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")


RATE_LIMITED = "You are being rate limited."


@dataclass(slots=True)
class _Window:
    limit: int
    per: float
    start: float = 0.0
    count: int = 0

    def reset_after(self, now: float) -> float:
        return max(0.0, self.start + self.per - now)


def _ceil_ms(seconds: float) -> float:
    # Rounded up so the client never believes a window ends before ours does.
    return math.ceil(seconds * 1000) / 1000


def _too_many(
    retry_after: float, *, scope: str, headers: dict[str, str]
) -> DiscordError:
    headers = {
        **headers,
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Scope": scope,
        # Without Via discord.py takes a 429 for a Cloudflare ban and gives up.
        "Via": "1.1 google",
    }
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return DiscordError(
        429,
        0,
        RATE_LIMITED,
        headers=headers,
        extra={"retry_after": _ceil_ms(retry_after), "global": scope == "global"},
    )


# (method, route template) -> (requests, per seconds); anything else gets DEFAULT.
ROUTE_LIMITS: dict[tuple[str, str], tuple[int, float]] = {
    ("POST", "/channels/{channel_id}/messages"): (5, 5.0),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): (5, 5.0),
    ("POST", "/webhooks/{app_id}/{token}"): (5, 2.0),
    ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}"): (5, 2.0),
}
DEFAULT_LIMIT = (50, 1.0)


@dataclass(slots=True)
class _Forced:
    method: str
    prefix: str
    retry_after: float
    times: int


class RateLimiter:
    """Fixed windows per (route, major parameter), plus the global window.

    ``check`` either returns the ``X-RateLimit-*`` headers for an allowed request
    or raises the 429 DiscordError; the caller counts the 429s.
    """

    def __init__(self, global_limit: int = 50, global_per: float = 1.0) -> None:
        self.global_window = _Window(global_limit, global_per)
        # Per instance, so a test can shorten a window without waiting 5 s.
        self.route_limits = dict(ROUTE_LIMITS)
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._hashes: dict[tuple[str, str], str] = {}
        self._forced: list[_Forced] = []

    def force(self, method: str, prefix: str, retry_after: float, times: int) -> None:
        self._forced.append(_Forced(method.upper(), prefix, retry_after, times))

    def _bucket_hash(self, method: str, route: str) -> str:
        key = (method, route)
        found = self._hashes.get(key)
        if found is None:
            digest = hashlib.sha1(f"{method} {route}".encode(), usedforsecurity=False)
            found = self._hashes[key] = digest.hexdigest()[:16]
        return found

    def _take_forced(self, method: str, path: str) -> _Forced | None:
        for forced in self._forced:
            if forced.method == method and path.startswith(forced.prefix):
                forced.times -= 1
                if forced.times <= 0:
                    self._forced.remove(forced)
                return forced
        return None

    def check(
        self,
        method: str,
        path: str,
        route: str,
        major: str,
        *,
        is_global: bool,
        bucketed: bool = True,
    ) -> dict[str, str]:
        forced = self._take_forced(method, path)
        if forced is not None:
            raise _too_many(forced.retry_after, scope="user", headers={})
        now = time.monotonic()
        if is_global:
            window = self.global_window
            if now >= window.start + window.per:
                window.start, window.count = now, 0
            window.count += 1
            if window.count > window.limit:
                raise _too_many(window.reset_after(now), scope="global", headers={})
        if not bucketed:
            return {}
        limit, per = self.route_limits.get((method, route), DEFAULT_LIMIT)
        key = (method, route, major)
        window = self._windows.get(key) or self._windows.setdefault(
            key, _Window(limit, per)
        )
        if now >= window.start + window.per:
            window.start, window.count = now, 0
        reset_after = _ceil_ms(window.reset_after(now))
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": self._bucket_hash(method, route),
        }
        if window.count >= limit:
            headers["X-RateLimit-Remaining"] = "0"
            raise _too_many(reset_after, scope="user", headers=headers)
        window.count += 1
        headers["X-RateLimit-Remaining"] = str(limit - window.count)
        return headers
