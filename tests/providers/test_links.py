"""Video links from the provider are fetched only where the bot should go.

Nothing here sends a packet past loopback: names resolve through an injected
resolver, and the refused addresses are refused before any connection is made.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence

import httpx
import pytest
from aiohttp import web

from bot.addresses import AddressClass, LinkGuard, address_class
from bot.errors import ProviderURLRefused
from bot.http_transport import AiohttpTransport, CookielessClient
from bot.models import ProviderState
from bot.ports import Submission
from bot.providers import FetchRules, make_provider
from bot.providers._http import ProviderHTTP
from tests.providers.conftest import make_request, provider_for, run_to_end

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)


def resolver(names: Mapping[str, Sequence[str]]):
    """A resolver that knows only ``names``; anything else does not resolve."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in names:
            raise OSError(f"{host}: name not known")
        return names[host]

    return resolve


class CDN:
    """A loopback HTTP peer that serves an MP4 and records every path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/{path:.*}", self._handle)
        self.redirects: dict[str, str] = {}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        target = self.redirects.get(request.path)
        if target is not None:
            raise web.HTTPFound(target)
        return web.Response(body=MP4, content_type="video/mp4")


@pytest.fixture
async def pinned_client():
    """The production client: httpx over aiohttp, which pins checked addresses."""
    async with CookielessClient(
        timeout=5.0, transport=AiohttpTransport(httpx.Limits())
    ) as shared:
        yield shared


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("8.8.8.8", AddressClass.PUBLIC),
        ("2606:4700:4700::1111", AddressClass.PUBLIC),
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.8.9.10", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),
        ("64:ff9b::a00:1", AddressClass.PRIVATE),
        ("10.0.0.1", AddressClass.PRIVATE),
        ("172.16.5.4", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.SHARED),
        ("169.254.1.1", AddressClass.LINK_LOCAL),
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("169.254.169.254", AddressClass.METADATA),
        ("fd00:ec2::254", AddressClass.METADATA),
        ("::ffff:169.254.169.254", AddressClass.METADATA),
        ("0.0.0.0", AddressClass.RESERVED),  # noqa: S104 (an address, not a bind)
        ("::", AddressClass.RESERVED),
        ("224.0.0.1", AddressClass.RESERVED),
        ("ff02::1", AddressClass.RESERVED),
        ("255.255.255.255", AddressClass.RESERVED),
        ("192.0.2.1", AddressClass.RESERVED),
    ],
)
def test_addresses_are_classed_by_the_network_they_are_on(raw, kind):
    assert address_class(ipaddress.ip_address(raw)) is kind


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/v.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://[::ffff:127.0.0.1]:8080/v.mp4",
        "http://127.0.0.1:8080/v.mp4",
        "http://[::1]/v.mp4",
        "http://0.0.0.0/v.mp4",
        "file:///etc/passwd",
        "ftp://cdn.example/v.mp4",
        "http://internal.test/v.mp4",  # resolves to 10.0.0.1
        "http://split.test/v.mp4",  # one public and one private address
        "http://unknown.test/v.mp4",  # does not resolve
    ],
)
async def test_a_public_relays_links_to_other_networks_are_refused(url):
    guard = LinkGuard(
        "https://relay.example",
        resolver(
            {"internal.test": ["10.0.0.1"], "split.test": ["93.184.216.34", "::1"]}
        ),
    )

    with pytest.raises(ProviderURLRefused):
        await guard.check(url)


async def test_a_public_link_is_checked_and_its_addresses_kept_for_the_connect():
    guard = LinkGuard(
        "https://relay.example", resolver({"cdn.example": ["93.184.216.34"]})
    )

    assert await guard.check("https://CDN.example/v.mp4?sig=1") == (
        "cdn.example",
        ["93.184.216.34"],
    )


async def test_a_relay_on_loopback_may_link_to_loopback_but_never_to_metadata():
    guard = LinkGuard("http://127.0.0.1:3000", resolver({}))

    assert await guard.check("http://127.0.0.1:9999/v.mp4") == (
        "127.0.0.1",
        ["127.0.0.1"],
    )
    for refused in ("http://10.0.0.1/v.mp4", "http://169.254.169.254/"):
        with pytest.raises(ProviderURLRefused):
            await guard.check(refused)


async def test_a_relay_on_a_private_address_may_link_to_that_network():
    guard = LinkGuard("http://10.1.2.3:3000", resolver({"cdn.lan": ["10.1.2.9"]}))

    assert (await guard.check("http://cdn.lan/v.mp4"))[1] == ["10.1.2.9"]
    with pytest.raises(ProviderURLRefused):
        await guard.check("http://127.0.0.1/v.mp4")


async def test_a_redirect_to_loopback_from_a_named_relay_is_refused(
    serve, pinned_client, tmp_path, caplog
):
    cdn = CDN()
    base = await serve(cdn.app)
    port = base.rsplit(":", 1)[1]
    cdn.redirects["/v.mp4"] = f"{base}/admin.mp4"  # 127.0.0.1: not the relay's
    relay = f"http://relay.test:{port}"
    http = ProviderHTTP(
        pinned_client,
        relay,
        "sk-secret-key-1234",
        FetchRules(resolve=resolver({"relay.test": ["127.0.0.1"]})),
    )

    with (
        caplog.at_level(logging.WARNING, logger="bot"),
        pytest.raises(ProviderURLRefused) as caught,
    ):
        await http.download(f"{relay}/v.mp4?token=abc", tmp_path / "v.mp4")

    assert cdn.paths == ["/v.mp4"]  # the redirect target was never asked
    assert not caught.value.retryable
    assert "loopback" in caplog.text
    assert "token=abc" not in caplog.text
    assert "sk-secret" not in caplog.text
    assert list(tmp_path.iterdir()) == []


async def test_redirects_are_followed_a_few_times_at_most(
    serve, pinned_client, tmp_path
):
    cdn = CDN()
    base = await serve(cdn.app)
    for hop in range(7):
        cdn.redirects[f"/{hop}.mp4"] = f"/{hop + 1}.mp4"

    with pytest.raises(ProviderURLRefused, match="redirected more than 5"):
        await ProviderHTTP(pinned_client, base, None).download(
            f"{base}/0.mp4", tmp_path / "v.mp4"
        )

    assert len(cdn.paths) == 6


async def test_a_checked_link_is_fetched_from_the_checked_address_not_dns_again(
    serve, pinned_client, tmp_path
):
    # "cdn.test" is in no DNS; the pinned connect goes where the check said.
    cdn = CDN()
    base = await serve(cdn.app)
    port = base.rsplit(":", 1)[1]
    http = ProviderHTTP(
        pinned_client,
        base,
        None,
        FetchRules(resolve=resolver({"cdn.test": ["127.0.0.1"]})),
    )

    video = await http.download(f"http://cdn.test:{port}/v.mp4", tmp_path / "v.mp4")

    assert video.size_bytes == len(MP4)
    assert cdn.paths == ["/v.mp4"]


async def test_a_provider_linking_to_a_private_host_fails_the_download(
    sim, pinned_client, tmp_path
):
    # The simulator is on 127.0.0.1, so its own links pass; a link elsewhere on
    # the machine's networks does not.
    provider = make_provider(
        "v2",
        base_url=sim.base_url,
        api_key="sk-provider-test-key",
        client=pinned_client,
        fetch=FetchRules(resolve=resolver({"files.test": ["10.0.0.1"]})),
    )
    task_id = await provider.create(_submission())
    done = (await run_to_end(provider, task_id))[-1]
    assert done.state is ProviderState.SUCCEEDED

    for url in ("http://files.test/v.mp4", "http://0.0.0.0:9/v.mp4"):
        with pytest.raises(ProviderURLRefused):
            await provider.download(
                task_id, done.model_copy(update={"video_url": url}), tmp_path / "x"
            )
    video = await provider.download(task_id, done, tmp_path / "v.mp4")

    assert video.size_bytes > 0


@pytest.mark.parametrize("dialect", ["v2", "sora", "unified", "openai", "video-create"])
async def test_simulator_downloads_still_work_through_the_pinned_transport(
    dialect, sim, pinned_client, tmp_path
):
    provider = provider_for(dialect, sim, pinned_client)
    model = provider.profile.models[0]
    task_id = await provider.create(_submission(model.name, model.seconds[0]))
    done = (await run_to_end(provider, task_id))[-1]

    video = await provider.download(task_id, done, tmp_path / "v.mp4")

    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    assert video.size_bytes > 0


def _submission(model: str = "sora-2", seconds: int = 10) -> Submission:
    return Submission(request=make_request(model=model, seconds=seconds))
