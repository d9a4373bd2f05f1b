"""The bot's own short-lived image links, fetched over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.errors import ConfigError
from bot.media import MediaHost
from bot.web import HttpServer, build_app

PUBLIC_URL = "https://bot.example.org"
PNG = b"\x89PNG\r\n\x1a\n" + b"pretend pixels" * 100


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Served:
    """A MediaHost on the real HTTP server, reached as if through a reverse proxy."""

    def __init__(self, media: MediaHost, server: HttpServer, http: httpx.AsyncClient):
        self.media = media
        self._server = server
        self._http = http

    async def get(self, url: str) -> httpx.Response:
        return await self._http.get(url.replace(PUBLIC_URL, self._server.url))

    async def head(self, url: str) -> httpx.Response:
        return await self._http.head(url.replace(PUBLIC_URL, self._server.url))


@pytest.fixture
async def serve(clock: FakeClock) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient())

        async def start(**options: Any) -> Served:
            app = build_app()
            media = MediaHost(PUBLIC_URL, ttl=60, clock=clock, **options)
            media.add_routes(app)
            server = HttpServer(app, "127.0.0.1", 0)
            await stack.enter_async_context(server)
            return Served(media, server, http)

        yield start


async def test_a_published_image_is_served_with_exact_bytes_and_type(serve):
    site = await serve()
    media = site.media

    url = media.publish(PNG, "image/png")
    response = await site.get(url)

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "private, no-store"


async def test_head_answers_with_headers_and_no_body(serve):
    site = await serve()
    media = site.media

    response = await site.head(media.publish(PNG, "image/jpeg"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == b""


async def test_an_unknown_token_is_not_found(serve):
    site = await serve()
    media = site.media
    url = media.publish(PNG, "image/png")

    response = await site.get(url[:-1] + ("A" if url[-1] != "A" else "B"))

    assert response.status_code == 404
    assert PNG not in response.content


async def test_a_link_expires_after_its_ttl(serve, clock):
    site = await serve()
    media = site.media
    url = media.publish(PNG, "image/png")

    clock.now += 59
    still = await site.get(url)
    clock.now += 1
    gone = await site.get(url)

    assert still.status_code == 200
    assert gone.status_code == 404


async def test_a_per_link_ttl_overrides_the_default(serve, clock):
    site = await serve()
    media = site.media
    url = media.publish(PNG, "image/png", ttl=5)

    clock.now += 5

    assert (await site.get(url)).status_code == 404


async def test_a_revoked_link_is_gone_by_url_or_by_token(serve):
    site = await serve()
    media = site.media
    by_url = media.publish(PNG, "image/png")
    by_token = media.publish(PNG, "image/png")

    media.revoke(by_url)
    media.revoke(by_token.rsplit("/", 1)[1])
    media.revoke("https://elsewhere.example/media/never-issued")

    assert (await site.get(by_url)).status_code == 404
    assert (await site.get(by_token)).status_code == 404


async def test_other_paths_under_media_list_and_traverse_nothing(serve):
    site = await serve()
    media = site.media
    url = media.publish(PNG, "image/png")
    base = PUBLIC_URL

    listing = await site.get(f"{base}/media/")
    traversal = await site.get(f"{base}/media/..%2F..%2Fetc%2Fpasswd")
    nested = await site.get(f"{url}/extra")

    assert [listing.status_code, traversal.status_code, nested.status_code] == [
        404,
        404,
        404,
    ]


def test_links_are_absolute_under_public_url_with_unguessable_tokens():
    media = MediaHost("https://bot.example.org/sorabot/")

    urls = [media.publish(PNG, "image/png") for _ in range(50)]

    prefix = "https://bot.example.org/sorabot/media/"
    assert all(u.startswith(prefix) for u in urls)
    tokens = {u.removeprefix(prefix) for u in urls}
    assert len(tokens) == 50
    # token_urlsafe(32): 256 random bits, 43 URL-safe characters.
    assert all(len(t) == 43 and "/" not in t for t in tokens)


def test_publishing_without_public_url_is_a_config_error_naming_the_setting():
    media = MediaHost(None)

    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        media.publish(PNG, "image/png")
    assert media.public_url is None


async def test_a_full_store_drops_the_soonest_expiring_link_first(serve, clock):
    site = await serve(max_bytes=2 * len(PNG))
    media = site.media
    short = media.publish(PNG, "image/png", ttl=10)
    long = media.publish(PNG, "image/png", ttl=100)

    newest = media.publish(PNG, "image/png")

    assert (await site.get(short)).status_code == 404
    assert (await site.get(long)).status_code == 200
    assert (await site.get(newest)).status_code == 200
