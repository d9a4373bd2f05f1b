"""Which origins go through which proxy, as HTTPS_PROXY, HTTP_PROXY and NO_PROXY say."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import yarl
from aiohttp import web

from bot.errors import ConfigError
from bot.http_transport import AiohttpTransport
from bot.proxies import DIRECT, Proxies


@pytest.fixture
def env(no_proxy_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return no_proxy_env


def proxy_of(proxies: Proxies, url: str) -> str | None:
    return proxies.proxy_url(url)


def test_https_targets_use_https_proxy_and_http_targets_http_proxy(env):
    env.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
    env.setenv("HTTP_PROXY", "http://plain-proxy:3128")
    proxies = Proxies()

    assert proxy_of(proxies, "https://relay.example/v1/videos") == (
        "http://secure-proxy:3128"
    )
    assert proxy_of(proxies, "wss://wss-primary.slack.com/link") == (
        "http://secure-proxy:3128"
    )
    assert proxy_of(proxies, "http://relay.example/v1/videos") == (
        "http://plain-proxy:3128"
    )


def test_without_variables_everything_goes_direct(env):
    proxies = Proxies()

    assert proxies.route(yarl.URL("https://relay.example/")) is DIRECT


def test_lower_case_variable_wins_over_upper_case(env):
    env.setenv("HTTPS_PROXY", "http://upper:3128")
    env.setenv("https_proxy", "http://lower:3128")

    assert proxy_of(Proxies(), "https://relay.example/") == "http://lower:3128"


def test_no_proxy_names_and_domain_suffixes_go_direct(env):
    env.setenv("HTTPS_PROXY", "http://proxy:3128")
    env.setenv("no_proxy", "internal.example, .corp.example,10.0.0.7")
    proxies = Proxies()

    assert proxy_of(proxies, "https://internal.example/") is None
    assert proxy_of(proxies, "https://api.internal.example/") is None
    assert proxy_of(proxies, "https://relay.corp.example/") is None
    assert proxy_of(proxies, "https://10.0.0.7:8443/") is None
    assert proxy_of(proxies, "https://relay.example/") == "http://proxy:3128"
    assert proxy_of(proxies, "https://notinternal.example/") == "http://proxy:3128"


def test_no_proxy_star_sends_everything_direct(env):
    env.setenv("HTTPS_PROXY", "http://proxy:3128")
    env.setenv("NO_PROXY", "*")

    assert proxy_of(Proxies(), "https://relay.example/") is None


def test_credentials_in_the_proxy_url_become_basic_auth_and_leave_the_url(env):
    env.setenv("HTTPS_PROXY", "http://me:s%3Acret@proxy:3128")

    route = Proxies().route(yarl.URL("https://relay.example/"))

    assert str(route.proxy) == "http://proxy:3128"
    assert route.auth is not None
    assert (route.auth.login, route.auth.password) == ("me", "s:cret")


def test_log_names_each_origin_once_and_never_the_credentials(env, caplog):
    env.setenv("HTTPS_PROXY", "http://me:s3cret-pw@proxy:3128")
    caplog.set_level(logging.INFO, logger="bot.proxies")
    proxies = Proxies()

    for _ in range(3):
        proxies.route(yarl.URL("https://relay.example/v1/videos/1"))

    [line] = [r.getMessage() for r in caplog.records]
    assert line == "requests to https://relay.example go through http://proxy:3128"
    assert "s3cret-pw" not in caplog.text


def test_proxy_without_a_scheme_is_read_as_http(env):
    env.setenv("HTTPS_PROXY", "proxy.corp:3128")

    assert proxy_of(Proxies(), "https://relay.example/") == "http://proxy.corp:3128"


def test_socks_proxy_is_refused_with_a_clear_message(env):
    env.setenv("HTTPS_PROXY", "socks5://proxy:1080")

    with pytest.raises(ConfigError) as refused:
        Proxies()

    assert "HTTPS_PROXY must be an http:// or https:// proxy URL" in str(
        refused.value.user_message
    )


def test_the_environment_is_read_once_at_start(env):
    env.setenv("HTTPS_PROXY", "http://proxy:3128")
    proxies = Proxies()
    assert proxy_of(proxies, "https://relay.example/") == "http://proxy:3128"

    env.setenv("NO_PROXY", "relay.example")

    assert proxy_of(proxies, "https://relay.example/") == "http://proxy:3128"


def test_go_direct_overrides_the_variables_for_one_origin(env):
    env.setenv("HTTP_PROXY", "http://proxy:3128")
    proxies = Proxies()
    proxies.go_direct("http://127.0.0.1:4000")

    assert proxy_of(proxies, "http://127.0.0.1:4000/v1/videos/1") is None
    assert proxy_of(proxies, "http://127.0.0.1:4001/v1/videos/1") == (
        "http://proxy:3128"
    )


@pytest.fixture
async def origin() -> AsyncIterator[int]:
    """A server on 127.0.0.1 answering every GET with its path; yields the port."""

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def _paths_fetched(*urls: str) -> list[str]:
    """GET each URL with the bot's transport (reading the environment as it is)."""
    transport = AiohttpTransport(httpx.Limits(max_connections=2))
    async with httpx.AsyncClient(transport=transport) as client:
        return [(await client.get(url)).json()["path"] for url in urls]


async def test_transport_sends_requests_through_the_proxy_with_its_credentials(
    env, proxy, origin
):
    env.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://me:pw@"))
    urls = [f"http://127.0.0.1:{origin}/v1/videos/{n}" for n in (1, 2)]

    assert await _paths_fetched(*urls) == ["/v1/videos/1", "/v1/videos/2"]
    assert [c.target for c in proxy.carried] == urls
    assert {c.proxy_authorization for c in proxy.carried} == {"Basic bWU6cHc="}


async def test_transport_reaches_no_proxy_hosts_directly(env, proxy, origin):
    env.setenv("NO_PROXY", "localhost")
    direct, proxied = (
        f"http://localhost:{origin}/direct",
        f"http://127.0.0.1:{origin}/proxied",
    )

    assert await _paths_fetched(direct, proxied) == ["/direct", "/proxied"]
    assert [c.target for c in proxy.carried] == [proxied]
