"""The bot's HTTP server, over real HTTP on a free loopback port."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web

from bot.web import HttpServer, build_app


async def test_healthz_answers_ok_as_json():
    async with (
        HttpServer(build_app(), "127.0.0.1", 0) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"{server.url}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_routes_added_before_start_are_served_next_to_healthz():
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = build_app()
    app.router.add_get("/hello", hello)
    async with (
        HttpServer(app, "127.0.0.1", 0) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.get(f"{server.url}/hello")

    assert response.text == "hello"


async def test_port_zero_binds_a_real_port_and_stop_releases_it():
    server = HttpServer(build_app(), "127.0.0.1", 0)
    await server.start()
    port = server.port
    await server.stop()
    await server.stop()

    assert port > 0
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
