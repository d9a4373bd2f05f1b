"""The Slack adapter: ``/sora`` in a channel, progress and the video in a thread.

``attach`` wires it into a ``Runtime``: HTTP mode when ``SLACK_SIGNING_SECRET`` is
set (bolt behind ``POST /slack/events`` on the bot's own server), Socket Mode when
``SLACK_APP_TOKEN`` is set (no public URL needed), or both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.admins import AdminCheck
from adapters.slack.app import build_app
from adapters.slack.client import make_web_client
from adapters.slack.deps import SlackDeps
from adapters.slack.files import VideoUploader
from adapters.slack.thread import UPLOAD_LIMIT, SlackDirectory
from adapters.slack.usergroups import SlackUserGroups
from bot.errors import ConfigError
from bot.models import Platform
from bot.proxies import routed_session
from bot.throttle import TokenBucket

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["EVENTS_PATH", "attach"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Shutdown must finish within a few seconds; edits still waiting for budget are
# dropped (a restarted bot edits the status again when it resumes the task).
FLUSH_TIMEOUT = 2.0
# Progress every couple of seconds is plenty to watch; the workspace budget slows
# it further when many jobs run.
EDIT_INTERVAL = 2.0
# Readiness asks Slack whether the bot token still works at most this often.
AUTH_CHECK_TTL = 10.0


def _events_handler(
    app: AsyncApp,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    return handle


class SlackReadiness:
    """The ``/readyz`` check: the bot token accepted and, in Socket Mode, the
    socket connected. ``auth.test`` is asked again only ``ttl`` s after it last
    said yes, so frequent probes cost Slack almost nothing."""

    def __init__(
        self,
        client: AsyncWebClient,
        socket: AsyncSocketModeHandler | None,
        ttl: float = AUTH_CHECK_TTL,
    ) -> None:
        self._client = client
        self._socket = socket
        self._ttl = ttl
        self._accepted_at = -ttl

    async def __call__(self) -> str | None:
        socket = self._socket
        if socket is not None and not await socket.client.is_connected():
            return "Slack Socket Mode is not connected"
        if time.monotonic() - self._accepted_at < self._ttl:
            return None
        try:
            await self._client.auth_test()
        except SlackApiError as error:
            return f"Slack refused the bot token ({error.response.get('error')})"
        except (aiohttp.ClientError, OSError):
            return "cannot reach the Slack API"
        self._accepted_at = time.monotonic()
        return None


async def attach(
    runtime: Runtime,
    stack: contextlib.AsyncExitStack,
    *,
    edit_interval: float = EDIT_INTERVAL,
    upload_limit: int = UPLOAD_LIMIT,
) -> None:
    """Register the Slack directory and routes; connect Socket Mode if configured.

    Args:
        runtime: the bot's runtime (before ``start``).
        stack: cleanups are pushed here; they run before the runtime closes.
        edit_interval: seconds between two edits of one status message.
        upload_limit: larger videos are linked rather than uploaded (bytes).
    """
    settings = runtime.settings
    if settings.slack_bot_token is None or not settings.slack_enabled:
        raise ConfigError(
            "Slack needs SLACK_BOT_TOKEN and either SLACK_SIGNING_SECRET (HTTP mode) "
            "or SLACK_APP_TOKEN (Socket Mode)."
        )
    token = settings.slack_bot_token.get_secret_value()
    metrics = runtime.metrics
    # Every Slack call (Web API, uploads, image downloads, response_url) goes on
    # this session, through the proxy HTTPS_PROXY/HTTP_PROXY/NO_PROXY name for it.
    session = routed_session(
        runtime.proxies, trace_configs=[metrics.chat_trace(Platform.SLACK)]
    )
    stack.push_async_callback(session.close)
    # The workspace's limit, whichever replica calls: each takes its share of it.
    replicas = runtime.replicas
    budget = TokenBucket(
        settings.slack_updates_per_minute / 60, share=lambda: replicas.count
    )
    api_url = settings.slack_api_url or AsyncWebClient.BASE_URL
    client = make_web_client(
        token,
        base_url=api_url,
        session=session,
        budget=budget,
        proxy=runtime.proxies.proxy_url(api_url),
    )
    directory = SlackDirectory(
        client,
        uploader=VideoUploader(client, session),
        budget=budget,
        links=runtime.video_links,
        upload_limit=upload_limit,
        min_interval=edit_interval,
        on_coalesced=metrics.edit_coalesced(Platform.SLACK),
    )
    stack.push_async_callback(_flush, directory)
    runtime.service.register_chat(directory)
    runtime.service.governance.register_groups(Platform.SLACK, SlackUserGroups(client))

    deps = SlackDeps(
        service=runtime.service,
        settings=settings,
        session=session,
        token=token,
        admins=AdminCheck(client, settings.slack_admin_users),
    )
    secret = settings.slack_signing_secret
    app = build_app(
        client, deps, signing_secret=secret.get_secret_value() if secret else None
    )
    if secret is not None:
        runtime.http_app.router.add_post(EVENTS_PATH, _events_handler(app))
        log.info("Slack HTTP mode: requests are served at %s", EVENTS_PATH)
    handler = None
    if settings.slack_app_token is not None:
        handler = AsyncSocketModeHandler(
            app,
            settings.slack_app_token.get_secret_value(),
            web_client=client,
            proxy=client.proxy,
        )
        # The websocket client made a plain session of its own; its own one (it
        # closes it) that follows the proxy settings like every other Slack call.
        await handler.client.aiohttp_client_session.close()
        handler.client.aiohttp_client_session = routed_session(runtime.proxies)
        # Connecting here, not in the background, makes a wrong app token fail the
        # start with Slack's error instead of retrying forever.
        await handler.connect_async()  # type: ignore[no-untyped-call]
        stack.push_async_callback(handler.close_async)
        log.info("Slack Socket Mode connected")
    runtime.readiness.add("slack", SlackReadiness(client, handler))


async def _flush(directory: SlackDirectory) -> None:
    try:
        await asyncio.wait_for(directory.aclose(), FLUSH_TIMEOUT)
    except TimeoutError:
        log.warning("some Slack status edits were not sent before shutdown")
