"""Short-lived public links to reference images, served by the bot's own HTTP server.

Providers that take the reference image as a URL must be able to fetch it. A Discord
CDN link works as is, but a Slack ``url_private`` needs the bot's token, and a fitted
(cropped, resized) image exists nowhere yet. So the bot publishes those bytes itself
at ``PUBLIC_URL/media/<token>``.

The bytes are kept in memory, not under ``MEDIA_DIR``: reference images are at most
10 MB, a provider fetches them within seconds of the create call, and they are useless
after a restart (a resumed task re-prepares its image). Memory also means a token can
only ever name an entry in a dict, so there is no file path to traverse and nothing
to list. The total is bounded by ``max_bytes``; when full, the links that expire
soonest are dropped first.

Each link is an unguessable 256-bit token (``secrets.token_urlsafe(32)``), valid for
``ttl`` seconds or until revoked, and answers with the exact content type and
``Cache-Control: private, no-store`` so no proxy keeps a copy.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MEDIA_PATH = "/media/{token}"
_PREFIX = "/media/"
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    content_type: str
    expires_at: float


class MediaHost:
    """Publishes bytes at unguessable, expiring URLs under ``public_url``.

    Args:
        public_url: the bot's address as the internet sees it (``PUBLIC_URL``), maybe
            with a path prefix a reverse proxy strips; ``None`` when the bot is not
            reachable from outside, in which case ``publish`` raises ``ConfigError``.
        ttl: how long a link stays valid, in seconds, unless ``publish`` says else.
        max_bytes: the most bytes held at once (soft: one entry may exceed it).
        clock: monotonic seconds; tests pass a fake one to expire links instantly.
    """

    def __init__(
        self,
        public_url: str | None,
        ttl: float = 3600,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._total = 0

    @property
    def public_url(self) -> str | None:
        """Where published links point, or ``None`` when the bot cannot host media."""
        return self._public_url

    def serve_locally(self, local_url: str) -> None:
        """Point links at the bot's own bound address when there is no ``PUBLIC_URL``.

        Only for a provider on this machine (the built-in simulator on loopback): it
        reaches the bot's HTTP server directly, so reference images need no public
        address. A configured ``public_url`` always wins.
        """
        if self._public_url is None:
            self._public_url = local_url.rstrip("/")

    def add_routes(self, app: web.Application) -> None:
        """Serve ``GET`` (and ``HEAD``) ``/media/{token}`` from ``app``."""
        app.router.add_get(MEDIA_PATH, self._serve)

    def publish(self, data: bytes, content_type: str, ttl: float | None = None) -> str:
        """Host ``data`` and return its absolute URL, valid for ``ttl`` seconds.

        Raises:
            ConfigError: ``PUBLIC_URL`` is not set, so no URL could reach the bot.
        """
        if self._public_url is None:
            raise ConfigError(
                "PUBLIC_URL is not set, so the bot cannot host images for the video "
                "service to fetch."
            )
        now = self._clock()
        self._purge(now)
        self._make_room(len(data))
        token = secrets.token_urlsafe(32)
        expires_at = now + (self._ttl if ttl is None else ttl)
        self._entries[token] = _Entry(data, content_type, expires_at)
        self._total += len(data)
        return f"{self._public_url}{_PREFIX}{token}"

    def revoke(self, url_or_token: str) -> None:
        """Stop serving a link now; unknown or already expired links are ignored."""
        token = url_or_token.rpartition(_PREFIX)[2] or url_or_token
        self._drop(token)

    def _drop(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is not None:
            self._total -= len(entry.data)

    def _purge(self, now: float) -> None:
        # Lazy: a handful of entries at a time, so a scan on each call is cheap and
        # no background task has to be started and stopped.
        for token in [t for t, e in self._entries.items() if e.expires_at <= now]:
            self._drop(token)

    def _make_room(self, size: int) -> None:
        by_expiry = sorted(self._entries, key=lambda t: self._entries[t].expires_at)
        for token in by_expiry:
            if self._total + size <= self._max_bytes:
                return
            log.warning(
                "media store is full (%d bytes); dropping a link before it expires",
                self._total,
            )
            self._drop(token)

    async def _serve(self, request: web.Request) -> web.Response:
        now = self._clock()
        self._purge(now)
        entry = self._entries.get(request.match_info["token"])
        if entry is None:
            raise web.HTTPNotFound(headers=_HEADERS)
        return web.Response(
            body=entry.data, content_type=entry.content_type, headers=_HEADERS
        )
