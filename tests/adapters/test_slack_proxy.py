"""Inside a company network: the provider and Slack calls go through HTTP_PROXY.

The whole bot runs (Runtime, SQLite, the provider client against a test-owned
simulator, unmodified slack-bolt and slack-sdk against the fake Slack) with
``HTTP_PROXY`` pointing at a recording proxy on loopback (the ``proxy`` fixture);
every target here is an ``http://`` one, so ``HTTP_PROXY`` is the variable that
applies. ``NO_PROXY`` hosts must be reached directly: the simulator is then
addressed as ``localhost`` and Slack as ``127.0.0.1``, so the two can be told apart.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.adapters.slack_fixtures import *  # noqa: F403 - the shared fixtures
from tests.fakes.proxy import host_of
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
MODES = ["http", "socket"]


async def _video_and_a_refusal(env: dict[str, str], fake: FakeSlack) -> None:
    """One /sora to the uploaded video, and one refused on its response_url."""
    socket = "SLACK_APP_TOKEN" in env
    async with running_bot(bot_settings(env)) as runtime, aiohttp.ClientSession() as s:
        delivery: Delivery = (
            SocketDelivery(fake) if socket else HttpDelivery(events_url(runtime), s)
        )
        await delivery.command(slash_command(fake, "a corgi surfing at sunset"))
        await fake.wait_for("files.completeUploadExternal", within=15)
        # A rule broken after parsing is answered on the command's response_url.
        await delivery.command(slash_command(fake, "a corgi --hd"))
        await eventually(lambda: bool(fake.responses_sent()))


@pytest.mark.parametrize("mode", MODES)
async def test_provider_and_slack_calls_go_through_the_proxy(
    mode, proxy, tmp_path, fake, simulator
):
    socket = mode == "socket"
    env = bot_env(tmp_path, fake, simulator, http=not socket, socket=socket)

    await _video_and_a_refusal(env, fake)

    carried = {c.url.path for c in proxy.carried}
    sim = host_of(simulator.base_url)
    assert proxy.hosts() == {sim, host_of(fake.base_url)}
    assert "/v1/videos" in carried  # the create
    assert (
        sum(c.method == "GET" and host_of(c.target) == sim for c in proxy.carried) > 1
    )
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
    [video] = fake.uploaded_files
    assert video.data


@pytest.mark.parametrize("mode", MODES)
async def test_no_proxy_hosts_are_reached_directly(
    mode, proxy, no_proxy_env, tmp_path, fake, simulator
):
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    socket = mode == "socket"
    env = bot_env(tmp_path, fake, simulator, http=not socket, socket=socket)
    env["SORA_API_URL"] = simulator.base_url.replace("127.0.0.1", "localhost")

    await _video_and_a_refusal(env, fake)

    assert proxy.hosts() == {host_of(env["SORA_API_URL"])}
    assert fake.calls_of("chat.postMessage")
    assert len(fake.uploaded_files) == 1
