"""The aiohttp-backed httpx transport behaves like httpx's own, errors included."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.http_transport import AiohttpTransport
from bot.ports import Submission
from bot.providers import make_provider
from tests.fakes.tasks import make_image, make_request

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=AiohttpTransport(LIMITS), timeout=httpx.Timeout(5.0, read=0.5)
    ) as opened:
        yield opened


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "body": body.decode(),
                "x": request.query["x"],
            }
        )

    async def zipped(request: web.Request) -> web.Response:
        payload = gzip.compress(json.dumps({"hello": "world"}).encode())
        return web.Response(
            body=payload,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/zipped")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/zipped", zipped)
    app.router.add_get("/moved", moved)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_json_body_and_query_reach_the_server(
    client: httpx.AsyncClient, server: str
) -> None:
    response = await client.post(f"{server}/echo", json={"a": 1}, params={"x": "y z"})

    assert response.status_code == 200
    assert response.json() == {"method": "POST", "body": '{"a":1}', "x": "y z"}


async def test_gzip_answers_are_decoded_once(
    client: httpx.AsyncClient, server: str
) -> None:
    response = await client.get(f"{server}/zipped")

    assert response.json() == {"hello": "world"}


async def test_redirects_are_left_to_httpx(
    client: httpx.AsyncClient, server: str
) -> None:
    unfollowed = await client.get(f"{server}/moved")
    followed = await client.get(f"{server}/moved", follow_redirects=True)

    assert unfollowed.status_code == 302
    assert followed.json() == {"hello": "world"}


async def test_read_timeout_is_an_httpx_timeout(
    client: httpx.AsyncClient, server: str
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await client.get(f"{server}/slow")


async def test_refused_connection_is_an_httpx_connect_error(
    client: httpx.AsyncClient,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{port}/")


async def test_multipart_upload_is_sent_with_a_length_not_chunked(
    client: httpx.AsyncClient, simulator
) -> None:
    provider = make_provider(
        "openai", base_url=simulator.base_url, api_key="sk-x", client=client
    )
    image = make_image()

    await provider.create(Submission(request=make_request(image=image), image=None))
    recorded = simulator.requests[-1]

    assert recorded.status == 200
    assert "content-length" in recorded.headers
    assert "transfer-encoding" not in recorded.headers


async def test_video_download_streams_the_whole_file(
    client: httpx.AsyncClient, simulator, tmp_path
) -> None:
    provider = make_provider(
        "openai", base_url=simulator.base_url, api_key=None, client=client
    )
    task_id = await provider.create(Submission(request=make_request()))
    await asyncio.sleep(0.6)  # the simulated task takes 0.5 s
    status = await provider.query(task_id)

    result = await provider.download(task_id, status, tmp_path / "v.mp4")
    data = await asyncio.to_thread((tmp_path / "v.mp4").read_bytes)

    assert result.size_bytes == len(data) > 1000
    assert data[4:8] == b"ftyp"
