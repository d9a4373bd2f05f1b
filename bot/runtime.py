"""The composition root's moving parts, wired once: store, provider, tracker, service.

``Runtime`` is an async context manager so everything opened is closed, in order,
on shutdown. Adapters attach between ``__aenter__`` and ``start()``: they add routes
to ``http_app`` (aiohttp freezes its router once serving) and register their
``ChatDirectory`` so resumed tasks can reach their threads.

    async with Runtime(settings) as rt:
        await discord_adapter.attach(rt, stack)   # registers routes + directory
        await rt.start()                          # HTTP server up, tasks resumed
        await rt.wait_stopped()                   # until SIGTERM/SIGINT or stop()
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web

from bot.config import Settings
from bot.ports import TaskStore, VideoProvider
from bot.service import VideoService


class Runtime:
    """Contract stub; the implementation lands with the core pipeline."""

    settings: Settings
    store: TaskStore
    provider: VideoProvider
    service: VideoService
    http_app: web.Application

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> Self:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """Where the bot's HTTP server is reachable: PUBLIC_URL or the bound address."""
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    async def wait_stopped(self) -> None:
        raise NotImplementedError
