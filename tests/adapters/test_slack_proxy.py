"""Inside a company network: the provider and Slack calls go through HTTP_PROXY.

The whole bot runs (Runtime, SQLite, the provider client against a test-owned
simulator, unmodified slack-bolt and slack-sdk against the fake Slack) with
``HTTP_PROXY`` pointing at a recording proxy on loopback; every target here is an
``http://`` one, so ``HTTP_PROXY`` is the variable that applies. ``NO_PROXY`` hosts
must be reached directly: the simulator is then addressed as ``localhost``, Slack
as ``127.0.0.1``, so the two can be told apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.bot.test_proxies import PROXY_NAMES
from tests.fakes.proxy import RecordingProxy
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import (
    bot_env,
    bot_settings,
    events_url,
    eventually,
    running_bot,
)
from tests.fakes.slack_payloads import (
    Delivery,
    HttpDelivery,
    SocketDelivery,
    slash_command,
)

pytestmark = pytest.mark.e2e

SIM_DURATION = 0.5


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RecordingProxy]:
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
    async with RecordingProxy() as running:
        monkeypatch.setenv("HTTP_PROXY", running.url)
        yield running


def _host(url: str) -> str:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    return f"{host}:{port}"


async def _make_a_video(delivery: Delivery, fake: FakeSlack) -> None:
    await delivery.command(slash_command(fake, "a corgi surfing at sunset"))
    await fake.wait_for("files.completeUploadExternal", within=15)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_provider_and_slack_calls_go_through_the_proxy(
    mode, proxy, tmp_path, fake, simulator
):
    socket = mode == "socket"
    env = bot_env(tmp_path, fake, simulator, http=not socket, socket=socket)
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        delivery: Delivery = (
            SocketDelivery(fake) if socket else HttpDelivery(events_url(runtime), s)
        )
        await _make_a_video(delivery, fake)
        # A rule broken after parsing is answered on the command's response_url.
        await delivery.command(slash_command(fake, "a corgi --25s"))
        await eventually(lambda: bool(fake.responses_sent()))

    carried = {c.url.path for c in proxy.carried}
    sim, slack = _host(simulator.base_url), _host(fake.base_url)
    assert proxy.hosts() == {sim, slack}
    assert "/v1/videos" in carried  # the create
    assert sum(c.method == "GET" and _host(c.target) == sim for c in proxy.carried) > 1
    assert {
        "/api/chat.postMessage",
        "/api/chat.update",
        "/api/files.getUploadURLExternal",
        "/api/files.completeUploadExternal",
    } <= carried
    assert any(path.startswith("/upload/") for path in carried)
    assert any(path.startswith("/response/") for path in carried)
    if socket:
        assert "/api/apps.connections.open" in carried
        assert "/link" in carried  # the websocket
    # What went through the proxy arrived: the video is in its thread.
    assert len(fake.uploaded_files) == 1
    assert fake.uploaded_files[0].data


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_no_proxy_hosts_are_reached_directly(
    mode, proxy, monkeypatch, tmp_path, fake, simulator
):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    socket = mode == "socket"
    env = bot_env(tmp_path, fake, simulator, http=not socket, socket=socket)
    env["SORA_API_URL"] = simulator.base_url.replace("127.0.0.1", "localhost")
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        delivery: Delivery = (
            SocketDelivery(fake) if socket else HttpDelivery(events_url(runtime), s)
        )
        await _make_a_video(delivery, fake)
        await delivery.command(slash_command(fake, "a corgi --25s"))
        await eventually(lambda: bool(fake.responses_sent()))

    assert proxy.hosts() == {_host(env["SORA_API_URL"])}
    assert fake.calls_of("chat.postMessage")
    assert len(fake.uploaded_files) == 1
