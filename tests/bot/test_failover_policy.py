"""Which failed creates may go to the next provider: only those provably not taken.

The errors are the ones the real HTTP layer raises (``bot.providers._http``), made
by real requests to a simulator and to a port where nothing listens.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNoAnswer,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnreachable,
)
from bot.http_transport import AiohttpTransport, CookielessClient
from bot.models import GenerationRequest
from bot.ports import Submission
from bot.providers import make_provider
from bot.providers.pool import CreateVerdict, create_verdict
from tests.fakes.provider import running_simulator
from tests.fakes.tasks import make_request


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _create_error(
    base_url: str,
    *,
    create_timeout: float = 5.0,
    request: GenerationRequest | None = None,
) -> ProviderError:
    """The error the v2 client raises for one create at ``base_url``."""
    async with CookielessClient(
        timeout=httpx.Timeout(10.0),
        transport=AiohttpTransport(httpx.Limits(max_connections=4)),
    ) as client:
        provider = make_provider(
            "v2",
            base_url=base_url,
            api_key="k",
            client=client,
            create_timeout=create_timeout,
        )
        request = request or make_request()
        with pytest.raises(ProviderError) as caught:
            await provider.create(Submission(request=request))
    return caught.value


async def test_a_refused_connection_proves_nothing_was_sent() -> None:
    error = await _create_error(f"http://127.0.0.1:{_closed_port()}")

    assert isinstance(error, ProviderUnreachable)
    assert create_verdict(error) is CreateVerdict.NOT_ACCEPTED


async def test_an_unresolvable_host_proves_nothing_was_sent() -> None:
    error = await _create_error("http://relay.invalid")

    assert isinstance(error, ProviderUnreachable)
    assert create_verdict(error) is CreateVerdict.NOT_ACCEPTED


async def test_a_create_that_hangs_after_the_body_was_sent_is_unknown() -> None:
    async with running_simulator() as sim:
        sim.inject("hang")
        error = await _create_error(sim.base_url, create_timeout=0.5)

    assert isinstance(error, ProviderNoAnswer)
    assert error.timed_out
    assert create_verdict(error) is CreateVerdict.UNKNOWN


async def test_a_connection_dropped_before_the_answer_is_unknown() -> None:
    async with running_simulator() as sim:
        sim.inject("drop")
        error = await _create_error(sim.base_url)

    assert isinstance(error, ProviderNoAnswer)
    assert not error.timed_out
    assert create_verdict(error) is CreateVerdict.UNKNOWN


@pytest.mark.parametrize(
    ("fault", "params", "verdict"),
    [
        ("server_error", {"status": 503}, CreateVerdict.NOT_ACCEPTED),
        ("server_error", {"status": 502}, CreateVerdict.NOT_ACCEPTED),
        ("server_error", {"status": 504}, CreateVerdict.NOT_ACCEPTED),
        ("rate_limit", {"seconds": 1}, CreateVerdict.NOT_ACCEPTED),
        ("auth", {}, CreateVerdict.NOT_ACCEPTED),
        # The relay had the whole body when it failed: it may have taken it.
        ("server_error", {"status": 500}, CreateVerdict.UNKNOWN),
        ("malformed", {"mode": "not_json"}, CreateVerdict.UNKNOWN),
        ("malformed", {"mode": "missing_fields"}, CreateVerdict.UNKNOWN),
    ],
)
async def test_what_each_create_answer_proves(
    fault: str, params: dict[str, object], verdict: CreateVerdict
) -> None:
    async with running_simulator() as sim:
        sim.inject(fault, on="create", **params)
        error = await _create_error(sim.base_url)

    assert create_verdict(error) is verdict


async def test_a_refused_request_is_the_members_to_fix_not_another_providers() -> None:
    async with running_simulator() as sim:
        error = await _create_error(sim.base_url, request=make_request(seconds=20))

    assert isinstance(error, ProviderRejected)
    assert create_verdict(error) is CreateVerdict.REFUSED


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (ProviderQuotaError("out of credit", status_code=402), "not_accepted"),
        (ProviderAuthError("bad key", status_code=401), "not_accepted"),
        (ProviderRateLimited("slow down"), "not_accepted"),
        (
            ProviderUnavailable(
                "no channel", status_code=500, code="get_channel_failed"
            ),
            "not_accepted",
        ),
        (ProviderProtocolError("no such route", status_code=404), "not_accepted"),
        (ProviderUnavailable("oops", status_code=500), "unknown"),
        (ProviderProtocolError("garbled"), "unknown"),
    ],
)
def test_error_bodies_that_say_the_create_was_not_taken(
    error: ProviderError, verdict: str
) -> None:
    assert create_verdict(error).value == verdict
