"""The fake provider shared by tests and benchmarks: the built-in simulator.

* ``running_simulator(duration, **options)``: an async context manager yielding a
  started ``Simulator`` on 127.0.0.1 (port 0); ``simulator`` is the same as a
  pytest fixture (0.5 s tasks). Import the fixture into a test module or conftest.
* ``simulator_process(...)``: ``python -m bot.simulator`` as a separate process, for
  benchmarks and restart tests; yields its base URL and pid.
* ``running_simulators(count, ...)``: several simulated providers at once, each on
  its own port with its own records and faults (failover tests);
  ``providers_json`` is the ``SORA_PROVIDERS`` value naming them ``p1``, ``p2``...
* ``simulators_process(count, ...)``: the same in one separate process (run as
  ``python -m tests.fakes.provider``), for benchmarks: it can take one off the
  network and report the prompts each one received creates for.
* ``image_bytes(width, height)`` and ``ImageHost``: reference images, and a tiny
  server that publishes them at URLs for the URL-taking dialects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
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


@contextlib.asynccontextmanager
async def running_simulators(
    count: int, duration: float = 0.5, **options: Any
) -> AsyncIterator[list[Simulator]]:
    """``count`` started simulators, each on its own port with its own records."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(Simulator(duration, **options))
            for _ in range(count)
        ]


def providers_json(
    simulators: Sequence[Simulator], *, dialect: str = "v2", key: str = "sim-key"
) -> str:
    """``SORA_PROVIDERS`` for ``simulators`` in that priority order: p1, p2, ..."""
    return json.dumps(
        [
            {"name": f"p{n}", "dialect": dialect, "url": sim.base_url, "key": key}
            for n, sim in enumerate(simulators, start=1)
        ]
    )


def created_prompts(simulator: Simulator) -> list[str]:
    """The prompt of every create the simulator received, answered or not."""
    prompts = []
    for request in simulator.requests:
        body = request.body if isinstance(request.body, dict) else {}
        prompts.append(str(body.get("prompt", "")))
    return prompts


class SimulatorsProcess:
    """Several simulators in a child process, steered over its stdin."""

    def __init__(self, process: asyncio.subprocess.Process, urls: list[str]) -> None:
        self._process = process
        self.urls = urls
        self.pid = process.pid

    async def _ask(self, command: str) -> Any:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(f"{command}\n".encode())
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=60)
        return json.loads(line)

    async def refuse_connections(self, index: int) -> None:
        """Take simulator ``index`` off the network: connecting is refused."""
        await self._ask(f"refuse {index}")

    async def created_prompts(self) -> list[list[str]]:
        """Per simulator, the prompt of every create it received."""
        answer: list[list[str]] = await self._ask("creates")
        return answer


@contextlib.asynccontextmanager
async def simulators_process(
    count: int, duration: float = 4.0, api_key: str | None = None
) -> AsyncIterator[SimulatorsProcess]:
    """``python -m tests.fakes.provider`` with ``count`` simulators until the
    block ends."""
    extra = ["--api-key", api_key] if api_key else []
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.provider",
        "--count",
        str(count),
        "--duration",
        str(duration),
        *extra,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        # An answer is one line: the prompts of 10,000 creates are ~200 kB.
        limit=1 << 24,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        urls = json.loads(line)
        yield SimulatorsProcess(process, urls)
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            await asyncio.wait_for(process.wait(), timeout=10)


def _say(answer: Any) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def _serve_several(args: argparse.Namespace) -> None:
    """The child of ``simulators_process``: one command per stdin line."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    options = {"api_key": args.api_key, "allow_loopback_callbacks": True}
    async with running_simulators(args.count, args.duration, **options) as sims:
        _say([sim.base_url for sim in sims])
        while line := (await reader.readline()).decode().strip():
            command, _, index = line.partition(" ")
            answer: Any = True
            if command == "refuse":
                await sims[int(index)].refuse_connections()
            elif command == "creates":
                answer = [created_prompts(sim) for sim in sims]
            _say(answer)


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.provider")
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--api-key")
    asyncio.run(_serve_several(parser.parse_args()))
