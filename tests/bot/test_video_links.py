"""The bot's own links to videos too large for a platform, fetched over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from bot.video_links import VideoLinks
from bot.web import HttpServer, build_app

PUBLIC_URL = "https://bot.example.org/sorabot"
DAY = 86_400
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"pretend frames" * 1000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "videos" / "task.mp4"
    path.parent.mkdir()
    path.write_bytes(VIDEO)
    return path


Get = Callable[[str], Awaitable[httpx.Response]]


@pytest.fixture
async def serve(
    tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Callable[[], Awaitable[tuple[VideoLinks, Get]]]]:
    """A fresh ``VideoLinks`` over the same folder on a real server, as after a
    restart; requests go to ``PUBLIC_URL`` as if through the reverse proxy."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient())

        async def start() -> tuple[VideoLinks, Get]:
            app = build_app()
            links = VideoLinks(PUBLIC_URL, tmp_path / "links", 7, clock=clock)
            links.add_routes(app)
            server = await stack.enter_async_context(HttpServer(app, "127.0.0.1", 0))

            async def get(url: str) -> httpx.Response:
                return await http.get(url.replace(PUBLIC_URL, server.url))

            return links, get

        yield start


async def test_a_linked_video_is_served_as_mp4_until_its_days_are_up(
    serve, clock, video
):
    links, get = await serve()

    url = await links.publish(video)
    fresh = await get(url)
    clock.now += 7 * DAY - 1
    last_second = await get(url)
    clock.now += 1
    expired = await get(url)

    assert url.startswith(f"{PUBLIC_URL}/media/videos/")
    assert fresh.status_code == 200
    assert fresh.headers["content-type"] == "video/mp4"
    assert fresh.content == VIDEO
    assert last_second.status_code == 200
    assert expired.status_code == 404
    assert list((video.parent.parent / "links").iterdir()) == []


async def test_a_link_outlives_a_restart_and_the_downloaded_file(serve, clock, video):
    links, _ = await serve()
    url = await links.publish(video)
    video.unlink()  # the copy is the bot's own, whatever happens to the download

    _, get = await serve()
    response = await get(url)

    assert response.status_code == 200
    assert response.content == VIDEO


@pytest.mark.parametrize(
    "name",
    [
        "9999999999-" + "a" * 43 + ".mp4",  # right shape, never published
        "..%2Fvideos%2Ftask.mp4",
        "task.mp4",
    ],
    ids=["unknown", "traversal", "other-file"],
)
async def test_names_that_were_not_published_answer_404(serve, video, name):
    links, get = await serve()
    await links.publish(video)

    response = await get(f"{PUBLIC_URL}/media/videos/{name}")

    assert response.status_code == 404


async def test_pushing_the_expiry_in_the_name_does_not_extend_a_link(
    serve, clock, video
):
    links, get = await serve()
    url = await links.publish(video)
    expiry, _, rest = url.rpartition("/")[2].partition("-")

    clock.now += 8 * DAY
    forged = await get(url.replace(f"{expiry}-{rest}", f"{int(expiry) + DAY}-{rest}"))

    assert forged.status_code == 404


async def test_a_new_link_sweeps_away_expired_copies(serve, clock, video, tmp_path):
    links, _ = await serve()
    await links.publish(video)
    clock.now += 7 * DAY

    await links.publish(video)

    assert len(list((tmp_path / "links").iterdir())) == 1


async def test_without_public_url_there_is_no_link(tmp_path, video):
    links = VideoLinks(None, tmp_path / "links", 7)

    assert not links.available
    assert await links.link_for(video) is None
    assert not (tmp_path / "links").exists()
