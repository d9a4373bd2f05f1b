"""The fake provider shared by tests and benchmarks: the built-in simulator.

* ``running_simulator(duration, **options)``: an async context manager yielding a
  started ``Simulator`` on 127.0.0.1 (port 0); ``simulator`` is the same as a
  pytest fixture (0.5 s tasks). Import the fixture into a test module or conftest.
* ``simulator_process(...)``: ``python -m bot.simulator`` as a separate process, for
  benchmarks and restart tests; yields its base URL and pid.
* ``image_bytes(width, height)`` and ``ImageHost``: reference images, and a tiny
  server that publishes them at URLs for the URL-taking dialects.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from bot.simulator import Simulator


@contextlib.asynccontextmanager
async def running_simulator(
    duration: float = 0.5, **options: Any
) -> AsyncIterator[Simulator]:
    async with Simulator(duration, **options) as sim:
        yield sim


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with running_simulator() as sim:
        yield sim


@dataclass(frozen=True)
class SimulatorProcess:
    base_url: str
    pid: int


@contextlib.asynccontextmanager
async def simulator_process(
    duration: float = 4.0, *extra_args: str
) -> AsyncIterator[SimulatorProcess]:
    """Run ``python -m bot.simulator`` until the block ends (then SIGTERM it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.simulator",
        "--port",
        "0",
        "--duration",
        str(duration),
        *extra_args,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        prefix = b"SIMULATOR_URL="
        if not line.startswith(prefix):
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield SimulatorProcess(line[len(prefix) :].decode().strip(), process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), timeout=10)


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A plain image of the given pixel size, encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, fmt)
    return buffer.getvalue()


class ImageHost:
    """Serves byte blobs at unguessable URLs on 127.0.0.1, counting downloads."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def publish(
        self, data: bytes, content_type: str = "image/png", name: str = "ref.png"
    ) -> str:
        token = f"{secrets.token_hex(8)}/{name}"
        self._files[token] = (data, content_type)
        return f"{self.base_url}/{token}"

    async def _serve(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self.hits[token] = self.hits.get(token, 0) + 1
        if token not in self._files:
            raise web.HTTPNotFound()
        data, content_type = self._files[token]
        return web.Response(body=data, content_type=content_type)

    async def __aenter__(self) -> ImageHost:
        app = web.Application()
        app.router.add_get("/{token:.+}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
