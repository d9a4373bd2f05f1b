"""``respond()`` on the adapter's own HTTP session, so it follows the proxy settings.

bolt's ``respond`` posts to ``response_url`` from a session it opens per call, with
slack-sdk's choice of proxy (``HTTPS_PROXY`` for every host, ``NO_PROXY`` ignored).
Sent on the adapter's session instead, the proxy routing of ``bot.proxies`` decides,
as for every other call the adapter makes, and the connection is pooled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

Middleware = Callable[
    [AsyncBoltContext, Callable[[], Awaitable[BoltResponse]]], Awaitable[BoltResponse]
]


class SessionRespond(AsyncRespond):
    """bolt's ``AsyncRespond``, sending on ``session``; same arguments, same message."""

    def __init__(
        self,
        response_url: str | None,
        session: aiohttp.ClientSession,
        proxy: str | None,
    ) -> None:
        super().__init__(response_url=response_url, proxy=proxy)
        self._session = session

    async def __call__(self, *args: Any, **kwargs: Any) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        whole = args[0] if args else kwargs.get("text")
        message = (
            _build_message(**whole)
            if isinstance(whole, dict)
            else _build_message(*args, **kwargs)
        )
        # ``proxy`` only keeps slack-sdk from reading (and logging) HTTPS_PROXY
        # itself; the session's routing decides.
        client = AsyncWebhookClient(
            url=self.response_url, session=self._session, proxy=self.proxy
        )
        return await client.send_dict(message)


def respond_on(session: aiohttp.ClientSession) -> Middleware:
    """A bolt middleware giving every listener a ``respond`` that uses ``session``."""

    async def install(
        context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        context["respond"] = SessionRespond(
            context.response_url, session, context.client.proxy
        )
        return await next()

    return install
