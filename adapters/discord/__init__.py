"""The Discord adapter: ``/sora`` in a server, progress in a thread, the video there.

``attach`` wires it into a ``Runtime``: it logs in (so REST works before the
tracker resumes old tasks), registers the ``ChatDirectory``, and keeps the gateway
connection in a background task that is closed with the runtime's exit stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING

import discord
import yarl

from adapters.discord.client import SoraClient
from adapters.discord.invite import invite_url
from adapters.discord.shards import IdentifyPacer, shard_plan
from adapters.discord.thread import Pacing
from bot.errors import ConfigError
from bot.models import Platform

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["attach"]

log = logging.getLogger(__name__)

# One status edit per message every few seconds reads as live progress and keeps a
# thread's bucket (about one edit a second sustained) far from its limit.
EDIT_INTERVAL = 3.0
# Discord's global limit is 50 requests a second per bot; interaction responses do
# not count toward it, so this budget covers posts, edits and thread creation.
REST_RATE = 40.0


def _point_at(api_url: str | None, gateway_url: str | None) -> None:
    """Send discord.py's REST and gateway traffic elsewhere (a proxy, a test fake).

    discord.py reads no environment variables; both addresses are class attributes
    read when a request or connection is made, so setting them before login is
    enough (``Route.BASE`` also serves webhooks and interaction callbacks).
    """
    if api_url:
        discord.http.Route.BASE = api_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def attach(
    runtime: Runtime,
    stack: contextlib.AsyncExitStack,
    *,
    edit_interval: float = EDIT_INTERVAL,
    rest_rate: float = REST_RATE,
) -> None:
    """Connect to Discord and serve ``/sora``, ``/sora-settings`` and ``/sora-info``.

    Args:
        runtime: the core, entered but not yet started.
        stack: closes the connection when the runtime shuts down.
        edit_interval: minimum seconds between two edits of one status message,
            times the number of live replicas (they share each channel's limit).
        rest_rate: the bot's REST requests per second, shared by all jobs and
            split between the live replicas.
    """
    settings = runtime.settings
    if settings.discord_token is None:
        raise ConfigError("DISCORD_TOKEN is not set.")
    previous = (
        discord.http.Route.BASE,
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    _point_at(settings.discord_api_url, settings.discord_gateway_url)
    stack.callback(_restore, *previous)

    metrics = runtime.metrics
    replicas = runtime.replicas
    pacing = Pacing(
        edit_interval,
        rest_rate,
        metrics.edit_coalesced(Platform.DISCORD),
        share=lambda: replicas.count,
    )
    # discord.py takes one proxy for REST, the gateway and the CDN: the one that
    # HTTPS_PROXY/HTTP_PROXY/NO_PROXY name for the REST API.
    route = runtime.proxies.route(yarl.URL(discord.http.Route.BASE))
    client = SoraClient(
        runtime.service,
        pacing,
        runtime.video_links,
        proxy=None if route.proxy is None else str(route.proxy),
        proxy_auth=route.auth,
        http_trace=metrics.chat_trace(Platform.DISCORD),
    )
    stack.push_async_callback(client.close)
    await client.login(settings.discord_token.get_secret_value())
    recommended, _, limits = await client.http.get_bot_gateway()
    count, shard_ids = shard_plan(settings, recommended)
    # Read by AutoShardedClient only when it connects, so they may be set now that
    # the count Discord recommends is known.
    client.shard_count, client.shard_ids = count, list(shard_ids)
    client.identify_pacer = IdentifyPacer(limits["max_concurrency"])
    log.info("Discord: running shard(s) %s of %d", _ranges(shard_ids), count)
    runtime.service.register_chat(client.directory)
    if client.application_id is not None:  # login has asked Discord for it
        log.info("Add the bot to a server: %s", invite_url(client.application_id))
    runtime.readiness.add("discord", functools.partial(_gateway_ready, client))

    connection = asyncio.create_task(client.connect(), name="discord-gateway")
    connection.add_done_callback(lambda task: _report_exit(task, runtime))
    stack.push_async_callback(_stop, client, connection)
    # Runs before the client closes (the stack unwinds in reverse): pending final
    # status edits still go out.
    stack.push_async_callback(pacing.edits.aclose)


async def _gateway_ready(client: SoraClient) -> str | None:
    # READY received on every shard, and each shard's websocket open now
    # (discord.py keeps the old, closed one while it reconnects).
    shards = client.shards
    if client.is_ready() and all(
        i in shards and not shards[i].is_closed() for i in client.shard_ids or ()
    ):
        return None
    return "not connected to the Discord gateway"


def _ranges(ids: tuple[int, ...]) -> str:
    """``0-3, 8`` for a log line: 1,000 shard ids must not fill it."""
    spans: list[list[int]] = []
    for shard in ids:
        if spans and spans[-1][1] == shard - 1:
            spans[-1][1] = shard
        else:
            spans.append([shard, shard])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _restore(api_url: str, gateway: yarl.URL) -> None:
    discord.http.Route.BASE = api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


def _report_exit(connection: asyncio.Task[None], runtime: Runtime) -> None:
    """discord.py reconnects by itself; if it gives up (a revoked token, a closed
    gateway), stop the bot so a supervisor restarts it instead of it idling deaf."""
    if not connection.cancelled() and connection.exception() is not None:
        log.error("Discord connection ended", exc_info=connection.exception())
        runtime.stop()


async def _stop(client: SoraClient, connection: asyncio.Task[None]) -> None:
    await client.close()
    with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
        await connection
