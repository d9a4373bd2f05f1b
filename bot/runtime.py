"""The composition root's moving parts, wired once: store, provider, tracker, service.

``Runtime`` is an async context manager so everything opened is closed, in order,
on shutdown. Adapters attach between ``__aenter__`` and ``start()``: they add routes
to ``http_app`` (aiohttp freezes its router once serving) and register their
``ChatDirectory`` so resumed tasks can reach their threads.

    async with Runtime(settings) as rt:
        await discord_adapter.attach(rt, stack)   # registers routes + directory
        await rt.start()                          # HTTP server up, tasks resumed
        await rt.wait_stopped()                   # until SIGTERM/SIGINT or stop()

With no ``SORA_API_KEY`` the provider is the built-in simulator on loopback, so the
real dialect client still runs over real HTTP and trying the bot costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from types import TracebackType
from typing import Self

import httpx
from aiohttp import web

from bot.audit.log import AuditLog
from bot.audit.takedown import Takedowns
from bot.callbacks import add_callback_routes
from bot.capabilities import CapabilityProfile, narrowed
from bot.chats import ChatRouter
from bot.config import DEFAULT_PROVIDER, ProviderConfig, Settings
from bot.errors import ConfigError, StoreUnavailable
from bot.governance import Governor
from bot.http_transport import AiohttpTransport, CookielessClient
from bot.imaging import prepare_image
from bot.media import MediaHost
from bot.metrics import Metrics
from bot.models import Task
from bot.ports import TaskStore, VideoProvider
from bot.providers import FetchRules, dialect_profile, make_provider
from bot.providers.breaker import CircuitBreaker
from bot.providers.pool import PoolMember, ProviderPool
from bot.proxies import Proxies
from bot.queue import TaskQueue
from bot.readiness import Readiness
from bot.replicas import Replicas, replica_id
from bot.service import VideoService
from bot.simulator import Simulator
from bot.storage import open_store
from bot.tracking import Tracker
from bot.video_links import VideoLinks
from bot.web import HttpServer, build_app

log = logging.getLogger(__name__)

# Status queries are small and answered fast; downloads stream, so the read timeout
# bounds a stall between chunks, not the whole video.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# One pool for every provider call; the tracker never runs more steps at once.
TRACKER_CONCURRENCY = 64
HTTP_LIMITS = httpx.Limits(
    max_connections=TRACKER_CONCURRENCY,
    max_keepalive_connections=TRACKER_CONCURRENCY,
    keepalive_expiry=30.0,
)
# Shutdown must finish within 5 s of SIGTERM: the HTTP server takes up to 2 s
# (bot.web.SHUTDOWN_TIMEOUT) and steps under way get this long to save.
TRACKER_GRACE = 2.0


# Net container allocations between young-generation collections (CPython: 700).
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Tune the garbage collector for a long-running bot, once start-up is done.

    Everything built so far (modules, the SDKs' state, commands, pydantic schemas)
    lives as long as the process: freezing it keeps it out of every full
    collection, which unfrozen stalled the event loop for 100-150 ms under load and
    held up Discord interaction acks. A larger young generation lets most of a
    status query's objects die by reference count before the collector ever walks
    them. Tracking 10,000 tasks (bench/track.py) spent 5.2 CPU s a minute in the
    collector as CPython ships it, 1.8 s tuned this way.
    """
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)


def provider_profile(config: ProviderConfig) -> CapabilityProfile:
    """A configured provider's profile: its dialect's, narrowed by its ``models``
    (``SORA_MODELS`` for the default provider).

    Raises ``ConfigError`` naming where the models came from when the dialect
    lacks one.
    """
    try:
        return narrowed(dialect_profile(config.dialect), config.models)
    except ConfigError as exc:
        where = (
            "SORA_MODELS"
            if config.name == DEFAULT_PROVIDER
            else f"SORA_PROVIDERS {config.name!r} models"
        )
        raise ConfigError(f"{where}: {exc.user_message}") from None


def configured_profiles(settings: Settings) -> tuple[CapabilityProfile, ...]:
    """The configured providers' profiles in priority order, before any runtime
    opens (the CLI's ``--help`` and defaults); ``VideoService.profiles`` is the
    same list once one has."""
    return tuple(provider_profile(c) for c in settings.providers)


def simulator_poll_interval(settings: Settings) -> float:
    """Poll a simulated task about ten times over its life, so a demo is quick."""
    return min(settings.poll_interval, max(0.2, settings.simulator_duration / 10))


def build_pool(
    settings: Settings,
    client: httpx.AsyncClient,
    simulator_url: str | None = None,
    *,
    metrics: Metrics | None = None,
) -> ProviderPool:
    """The configured providers (``Settings.providers``) over the shared client.

    ``simulator_url`` serves the default provider while no key is set; each
    provider's requests are recorded under its name in ``metrics``.
    """
    fetch = FetchRules(max_video_mb=settings.max_video_mb)
    members = []
    for config in settings.providers:
        url = config.url or simulator_url
        if url is None:
            raise ConfigError(
                "SORA_API_KEY is set but SORA_API_URL is not: set it to your "
                "provider's base URL."
            )
        members.append(
            PoolMember(
                name=config.name,
                provider=make_provider(
                    config.dialect,
                    base_url=url,
                    api_key=None
                    if config.key is None
                    else config.key.get_secret_value(),
                    client=client,
                    fetch=fetch,
                    name=config.name,
                    metrics=metrics,
                    profile=provider_profile(config),
                    create_timeout=settings.sora_create_timeout,
                    watermark=config.watermark,
                ),
                url=url,
                breaker=CircuitBreaker(config.name),
            )
        )
    return ProviderPool(members)


class Runtime:
    """Everything the bot runs on, opened in ``__aenter__`` and closed in reverse.

    Args:
        settings: the operator's configuration.
    """

    settings: Settings
    store: TaskStore
    provider: VideoProvider
    pool: ProviderPool
    service: VideoService
    tracker: Tracker
    governor: Governor
    queue: TaskQueue
    audit: AuditLog
    media: MediaHost
    video_links: VideoLinks
    http_app: web.Application
    http_client: httpx.AsyncClient
    proxies: Proxies
    metrics: Metrics
    readiness: Readiness
    replicas: Replicas

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.replicas = Replicas(replica_id(settings.replica_id))
        # Adapters record into ``metrics`` and add their chat checks to
        # ``readiness`` when they attach.
        self.metrics = Metrics()
        self.readiness = Readiness()
        self.http_app = build_app(readiness=self.readiness, metrics=self.metrics)
        self.media = MediaHost(settings.public_url)
        self.video_links = VideoLinks(
            settings.public_url, settings.media_dir / "links", settings.video_link_days
        )
        self.chats = ChatRouter()
        self.simulator: Simulator | None = None
        self._server = HttpServer(self.http_app, settings.http_host, settings.http_port)
        self._stack = contextlib.AsyncExitStack()
        self._stopped = asyncio.Event()

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        await self._stack.aclose()

    async def _open(self) -> None:
        settings = self.settings
        stack = self._stack
        self.store = await stack.enter_async_context(open_store(settings.database_url))
        # HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read once; the adapters use it too.
        self.proxies = Proxies()
        self.http_client = await stack.enter_async_context(
            CookielessClient(
                timeout=HTTP_TIMEOUT,
                transport=AiohttpTransport(HTTP_LIMITS, self.proxies),
            )
        )
        poll_interval = settings.poll_interval
        simulator_url: str | None = None
        if settings.use_simulator:
            self.simulator = await stack.enter_async_context(
                Simulator(settings.simulator_duration, allow_loopback_callbacks=True)
            )
            simulator_url = self.simulator.base_url
            # It runs in this process, on loopback: a proxy could never reach it.
            self.proxies.go_direct(simulator_url)
            poll_interval = simulator_poll_interval(settings)
            log.info(
                "no SORA_API_KEY: using the built-in simulator at %s", simulator_url
            )
        self.pool = build_pool(
            settings, self.http_client, simulator_url, metrics=self.metrics
        )
        self.audit = AuditLog(
            self.store, self.chats, settings.sora_prices, settings.currency
        )
        self.governor = Governor(self.store, settings, audit=self.audit)
        self.provider = self.pool.primary.provider
        self.tracker = Tracker(
            self.store,
            self.pool,
            chats=self.chats,
            media_dir=settings.media_dir,
            poll_interval=poll_interval,
            public_url=settings.public_url,
            prepare_image=functools.partial(prepare_image, media=self.media),
            create_timeout=settings.sora_create_timeout,
            concurrency=TRACKER_CONCURRENCY,
            metrics=self.metrics,
            refunds=self.governor,
            on_finished=self._finished,
            replicas=self.replicas,
            lease_time=settings.lease_time,
        )
        stack.push_async_callback(self.tracker.aclose, TRACKER_GRACE)
        self.queue = TaskQueue(
            self.store,
            self.tracker,
            self.chats,
            settings,
            # Counted when a task starts, not while it waits in line.
            reserve=functools.partial(self.governor.reserve, provider=self.provider),
            refund=functools.partial(self.governor.refund, failure=None),
        )
        self.service = VideoService(
            self.store,
            self.pool,
            self.tracker,
            self.chats,
            settings,
            self.media,
            metrics=self.metrics,
            governor=self.governor,
            queue=self.queue,
            audit=self.audit,
            takedowns=Takedowns(
                self.store,
                self.chats,
                self.video_links,
                self.audit,
                settings.media_dir,
            ),
        )
        self.readiness.add("database", self._database_ready)
        self.readiness.add("provider", self._provider_ready)
        secret = settings.sora_webhook_secret
        add_callback_routes(
            self.http_app,
            store=self.store,
            poke=self.tracker.poke,
            webhook_secret=None if secret is None else secret.get_secret_value(),
        )
        self.media.add_routes(self.http_app)
        self.video_links.add_routes(self.http_app)

    def provider_usable(self) -> bool:
        """Whether some provider can take a request now."""
        return self.pool.usable

    async def _database_ready(self) -> str | None:
        try:
            await self.store.ping()
        except StoreUnavailable as exc:
            return exc.user_message
        return None

    async def _provider_ready(self) -> str | None:
        if self.provider_usable():
            return None
        return "the video provider has not been reachable for its last requests"

    async def _finished(self, task: Task) -> None:
        """The tracker delivered ``task``: the service audits it and moves the line."""
        await self.service.finished(task)

    @property
    def port(self) -> int:
        """The HTTP port actually bound (``HTTP_PORT=0`` picks a free one)."""
        return self._server.port

    @property
    def base_url(self) -> str:
        """Where the bot's HTTP server is reachable: PUBLIC_URL or the bound address."""
        return self.settings.public_url or self._server.url

    async def start(self) -> None:
        """Serve HTTP, then resume every unfinished task."""
        await self._server.start()
        self._stack.push_async_callback(self._server.stop)
        if self.simulator is not None:
            # The simulator fetches reference images from this very server, so the
            # URL dialects work with no PUBLIC_URL at all.
            self.media.serve_locally(self._server.url)
        await self.tracker.start()
        # Slots freed while the bot was down go to whoever waits.
        await self.queue.start()

    def stop(self) -> None:
        """Ask ``wait_stopped`` to return (signal handlers call this)."""
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
