"""Provider callbacks on the bot's HTTP server: hints that a task has news.

A callback is never believed. Relays document no signature for ``notify_hook`` or
``callback_url`` (see the provider reference), so anyone who learned a URL could
post anything to it. The bot only asks the tracker to query that task now
(``poke``); the provider's own answer to that query decides the task's fate. What
is left to guard is cheap: an unknown token gets 404 and changes nothing, bodies
are capped (a task callback's is never even parsed), and duplicates and late
arrivals still get 2xx so the provider stops retrying.

Two routes, both ``POST``:

* ``/callbacks/{token}``: per-task unguessable token (``v2``/``sora`` ``notify_hook``,
  ``unified`` ``callback_url``). A repeat of the same body for the same token is a
  duplicate; a different body (a relay posting each change) is a new hint.
* ``/callbacks/openai``: OpenAI project webhooks (``video.completed``,
  ``video.failed``), verified with the Standard Webhooks signature and deduplicated
  on ``webhook-id``. With no ``SORA_WEBHOOK_SECRET`` it answers **503**, not 404:
  OpenAI keeps retrying for up to 72 h, so the events still arrive once the
  operator sets the secret, and a warning says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable

from aiohttp import web

from bot.ports import TaskStore
from bot.webhooks import (
    ID_HEADER,
    WebhookVerificationError,
    verify_standard_webhook,
    webhook_key,
)

log = logging.getLogger(__name__)

CALLBACK_PATH = "/callbacks/{token}"
OPENAI_WEBHOOK_PATH = "/callbacks/openai"
# Relays post the task object (well under 4 KB); OpenAI events are ~200 bytes.
MAX_BODY_BYTES = 64 * 1024
# Enough to span a provider's whole retry schedule at any realistic task rate.
SEEN_LIMIT = 4096
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_VIDEO_EVENTS = frozenset({"video.completed", "video.failed"})


class _Recent:
    """A bounded set of recently handled keys, oldest forgotten first."""

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._limit = limit

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False if it was already there (a duplicate)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True

    def discard(self, key: Hashable) -> None:
        self._keys.pop(key, None)


async def _read_capped(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, length)
    chunks: list[bytes] = []
    total = 0
    # Content-Length can be absent (chunked) or lie; count what actually arrives.
    async for chunk in request.content.iter_any():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, total)
        chunks.append(chunk)
    return b"".join(chunks)


def _ok() -> web.Response:
    return web.Response(text="ok")


class _Callbacks:
    def __init__(
        self, store: TaskStore, poke: Callable[[str], None], secret: str | None
    ) -> None:
        self._store = store
        self._poke = poke
        self._secret = secret
        self._seen = _Recent(SEEN_LIMIT)
        self._warned_unconfigured = False

    async def task_callback(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not _TOKEN.fullmatch(token):
            return web.Response(status=404, text="unknown callback")
        task = await self._store.by_callback_token(token)
        if task is None:
            log.debug("callback with an unknown token refused")
            return web.Response(status=404, text="unknown callback")
        body = await _read_capped(request)
        key = hashlib.sha256(token.encode() + b"\0" + body).digest()
        if not self._seen.add(key):
            log.debug("duplicate callback for task %s ignored", task.id)
        elif not task.state.in_flight:
            log.debug("late callback for task %s (%s) ignored", task.id, task.state)
        else:
            log.debug("callback for task %s: querying it now", task.id)
            self._poke(task.id)
        return _ok()

    async def openai_webhook(self, request: web.Request) -> web.Response:
        if self._secret is None:
            if not self._warned_unconfigured:
                self._warned_unconfigured = True
                log.warning(
                    "An OpenAI webhook arrived but SORA_WEBHOOK_SECRET is not set; "
                    "answering 503 so OpenAI retries. Set it to the project "
                    "webhook's signing secret."
                )
            return web.Response(status=503, text="webhooks are not configured")
        body = await _read_capped(request)
        try:
            verify_standard_webhook(body, request.headers, self._secret)
        except WebhookVerificationError as exc:
            log.warning("refused an OpenAI webhook: %s", exc)
            return web.Response(status=401, text="bad signature")
        msg_id = request.headers[ID_HEADER]
        if not self._seen.add(("openai", msg_id)):
            log.debug("duplicate OpenAI webhook %s ignored", msg_id)
            return _ok()
        try:
            await self._video_event(body, msg_id)
        except BaseException:
            # Not handled after all: let the provider's retry through.
            self._seen.discard(("openai", msg_id))
            raise
        return _ok()

    async def _video_event(self, body: bytes, msg_id: str) -> None:
        try:
            event = json.loads(body)
            kind, video_id = event["type"], event["data"]["id"]
        except (ValueError, KeyError, TypeError):
            # Signed by OpenAI yet unreadable: retrying would not change it.
            log.warning("ignored OpenAI webhook %s: not a readable event", msg_id)
            return
        if kind not in _VIDEO_EVENTS or not isinstance(video_id, str):
            log.debug("ignored OpenAI webhook %s of type %r", msg_id, kind)
            return
        task = await self._store.by_provider_task_id(video_id)
        if task is None or not task.state.in_flight:
            log.debug("OpenAI webhook %s for no task in flight ignored", msg_id)
            return
        log.debug("OpenAI webhook %s for task %s: querying it now", msg_id, task.id)
        self._poke(task.id)


def add_callback_routes(
    app: web.Application,
    *,
    store: TaskStore,
    poke: Callable[[str], None],
    webhook_secret: str | None,
) -> None:
    """Serve ``POST /callbacks/openai`` and ``POST /callbacks/{token}`` from ``app``.

    Args:
        app: the bot's HTTP application (before it starts serving).
        store: where tasks are found by callback token or provider task id.
        poke: the tracker's "query this task now"; called with our task id.
        webhook_secret: ``SORA_WEBHOOK_SECRET`` for OpenAI webhooks, or ``None``.

    Raises:
        ConfigError: ``webhook_secret`` is a malformed ``whsec_`` secret; better
            at startup than on the first event.
    """
    if webhook_secret is not None:
        webhook_key(webhook_secret)
    callbacks = _Callbacks(store, poke, webhook_secret)
    # The fixed route first, so "openai" is never looked up as a task token.
    app.router.add_post(OPENAI_WEBHOOK_PATH, callbacks.openai_webhook)
    app.router.add_post(CALLBACK_PATH, callbacks.task_callback)
