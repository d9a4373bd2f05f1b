"""Fixtures for provider tests: a shared httpx client and small real HTTP peers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from bot.models import ChatRef, GenerationRequest, Platform, Requester

ServeApp = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as shared:
        yield shared


@pytest.fixture
async def serve() -> AsyncIterator[ServeApp]:
    """Start aiohttp apps on 127.0.0.1 (port 0); each call returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


def make_request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "prompt": "a corgi surfing at sunset",
        "requester": Requester(user_id="u1", display_name="Ann"),
        "chat": ChatRef(platform=Platform.CLI),
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)
