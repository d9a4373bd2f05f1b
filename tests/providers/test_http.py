"""The shared HTTP plumbing over real sockets: transport failures, downloads, auth."""

from __future__ import annotations

import asyncio
import socket

import anyio
import httpx
import pytest
from aiohttp import web

from bot.errors import (
    ProviderProtocolError,
    ProviderTaskUnknown,
    ProviderUnavailable,
    ProviderVideoTooLarge,
)
from bot.models import ProviderState, TaskStatus
from bot.providers import make_provider
from bot.providers._http import FetchRules, ProviderHTTP

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)
KEY = "sk-test-key-123456"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _done(url: str | None = None) -> TaskStatus:
    return TaskStatus(state=ProviderState.SUCCEEDED, video_url=url)


class Recorder:
    """A tiny HTTP peer that records the Authorization header of each request."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        self.app = web.Application()

    def route(self, path: str, answer: web.StreamResponse) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.auth.append(request.headers.get("Authorization"))
            return answer

        self.app.router.add_get(path, handler)


async def test_connection_refused_is_retryable_unavailability(client):
    provider = make_provider(
        "v2", base_url=f"http://127.0.0.1:{_free_port()}", api_key=KEY, client=client
    )

    with pytest.raises(ProviderUnavailable) as caught:
        await provider.query("task_1")

    assert caught.value.retryable
    assert KEY not in str(caught.value)


async def test_timeout_is_retryable_unavailability(serve):
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/tasks/{id}", stall)
    base = await serve(app)

    async with httpx.AsyncClient(timeout=0.2) as impatient:
        provider = make_provider(
            "unified", base_url=base, api_key=None, client=impatient
        )
        with pytest.raises(ProviderUnavailable):
            await provider.query("task-unified-1")


async def test_a_non_json_answer_is_a_protocol_error(serve, client):
    relay = Recorder()
    relay.route("/v1/videos/{id}", web.Response(text="<html>maintenance</html>"))
    provider = make_provider(
        "openai", base_url=await serve(relay.app), api_key=None, client=client
    )

    with pytest.raises(ProviderProtocolError, match="not JSON"):
        await provider.query("video_1")


async def test_task_ids_are_escaped_into_the_path(serve, client):
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.match_info["id"])
        return web.json_response({"status": "IN_PROGRESS", "progress": "5%"})

    app = web.Application()
    app.router.add_get("/v2/videos/generations/{id}", answer)
    provider = make_provider(
        "v2", base_url=await serve(app), api_key=None, client=client
    )

    await provider.query("a/b c")

    assert seen == ["a/b c"]


async def test_base_url_ending_in_v1_is_not_doubled(serve, client):
    relay = Recorder()
    relay.route("/v1/videos/{id}", web.json_response({"status": "queued"}))
    base = await serve(relay.app)
    provider = make_provider(
        "openai", base_url=f"{base}/v1/", api_key=None, client=client
    )

    status = await provider.query("video_1")

    assert status.state is ProviderState.QUEUED


async def test_video_on_another_origin_is_fetched_without_our_key(
    serve, client, tmp_path
):
    relay, cdn = Recorder(), Recorder()
    cdn.route("/v.mp4", web.Response(body=MP4, content_type="video/mp4"))
    cdn_base = await serve(cdn.app)
    provider = make_provider(
        "v2", base_url=await serve(relay.app), api_key=KEY, client=client
    )

    result = await provider.download(
        "t", _done(f"{cdn_base}/v.mp4"), tmp_path / "a" / "v.mp4"
    )

    assert cdn.auth == [None]
    assert await anyio.Path(result.path).read_bytes() == MP4
    assert result.size_bytes == len(MP4)
    assert result.source_url == f"{cdn_base}/v.mp4"


async def test_content_route_is_fetched_with_our_key(serve, client, tmp_path):
    relay = Recorder()
    relay.route(
        "/v1/videos/{id}/content", web.Response(body=MP4, content_type="video/mp4")
    )
    provider = make_provider(
        "openai", base_url=await serve(relay.app), api_key=KEY, client=client
    )

    result = await provider.download("video_1", _done(), tmp_path / "v.mp4")

    assert relay.auth == [f"Bearer {KEY}"]
    assert result.source_url is None


async def test_content_route_answering_json_is_followed_to_the_video(
    serve, client, tmp_path
):
    cdn = Recorder()
    cdn.route("/x.mp4", web.Response(body=MP4, content_type="video/mp4"))
    cdn_base = await serve(cdn.app)
    relay = Recorder()
    relay.route(
        "/v1/videos/{id}/content", web.json_response({"url": f"{cdn_base}/x.mp4"})
    )
    provider = make_provider(
        "openai", base_url=await serve(relay.app), api_key=KEY, client=client
    )

    result = await provider.download("video_1", _done(), tmp_path / "v.mp4")

    assert await anyio.Path(result.path).read_bytes() == MP4
    assert cdn.auth == [None]


async def test_a_download_that_is_not_a_video_is_refused_and_leaves_no_file(
    serve, client, tmp_path
):
    cdn = Recorder()
    cdn.route(
        "/v.mp4",
        web.Response(text="<html>expired</html>" * 10, content_type="text/html"),
    )
    base = await serve(cdn.app)
    http = ProviderHTTP(client, base, None)

    with pytest.raises(ProviderProtocolError, match="not a video"):
        await http.download(f"{base}/v.mp4", tmp_path / "v.mp4")

    assert list(tmp_path.iterdir()) == []


async def test_an_expired_video_link_is_an_unknown_task(serve, client, tmp_path):
    cdn = Recorder()
    cdn.route("/v.mp4", web.Response(status=404, text="gone"))
    base = await serve(cdn.app)

    with pytest.raises(ProviderTaskUnknown):
        await ProviderHTTP(client, base, None).download(
            f"{base}/v.mp4", tmp_path / "v.mp4"
        )


async def test_an_unusable_base_url_is_not_retried_and_names_the_setting(client):
    provider = make_provider(
        "unified", base_url="ftp://relay.example", api_key=KEY, client=client
    )

    with pytest.raises(ProviderProtocolError, match="SORA_API_URL") as caught:
        await provider.query("task-unified-1")

    assert not caught.value.retryable


async def test_a_download_past_max_video_mb_is_refused_and_leaves_no_file(
    serve, client, tmp_path
):
    cdn = Recorder()
    body = MP4 + bytes(1024 * 1024)  # just over 1 MB
    cdn.route("/v.mp4", web.Response(body=body, content_type="video/mp4"))
    base = await serve(cdn.app)
    http = ProviderHTTP(client, base, None, FetchRules(max_video_mb=1))

    with pytest.raises(ProviderVideoTooLarge) as caught:
        await http.download(f"{base}/v.mp4", tmp_path / "v.mp4")

    assert not caught.value.retryable
    assert "larger than the 1 MB" in caught.value.user_message
    assert list(tmp_path.iterdir()) == []
