"""Small helpers for driving the simulator with raw httpx requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web


async def poll(
    client: httpx.AsyncClient,
    url: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    interval: float = 0.03,
    within: float = 5.0,
) -> list[dict[str, Any]]:
    """GET ``url`` until ``done(answer)``; return every answer seen."""
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if done(answers[-1]):
            return answers
        await asyncio.sleep(interval)
    raise AssertionError(f"{url} never finished; last answer {answers[-1:]}")


async def wait_for(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.02)


class Receiver:
    """Records POSTed callbacks, answering ``statuses`` in turn (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
