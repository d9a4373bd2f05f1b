"""The tracker's rules on their own: waits, retry limits and failure kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.capabilities import CapabilityProfile
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderModerated,
    ProviderNoAnswer,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from bot.models import Failure, FailureKind
from bot.ports import VideoProvider
from bot.providers import dialect_profile, make_provider
from bot.tracking.policy import (
    backoff,
    callback_base,
    failure_for,
    not_resent,
    retry_or_fail,
)


def _longest(low: float, high: float) -> float:
    return high


def _shortest(low: float, high: float) -> float:
    return low


def test_backoff_doubles_with_each_error_until_its_cap():
    waits = [backoff(n, 10.0, uniform=_longest) for n in range(1, 8)]

    assert waits == [4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_backoff_cap_grows_with_a_long_poll_interval():
    assert backoff(16, 30.0, uniform=_longest) == 180.0


def test_backoff_is_jittered_down_to_half_the_wait():
    assert backoff(3, 10.0, uniform=_shortest) == 8.0


def test_backoff_never_waits_less_than_retry_after():
    assert backoff(1, 10.0, retry_after=45.0, uniform=_longest) == 45.0


def test_backoff_keeps_its_own_wait_when_retry_after_is_shorter():
    assert backoff(4, 10.0, retry_after=1.0, uniform=_longest) == 32.0


def test_a_retryable_error_under_the_limit_is_retried_after_the_next_backoff():
    outcome = retry_or_fail(
        ProviderUnavailable("busy"), 2, poll_interval=10.0, limit=5, uniform=_longest
    )

    assert outcome == backoff(3, 10.0, uniform=_longest)


def test_a_retryable_error_at_the_limit_fails_the_task():
    outcome = retry_or_fail(ProviderUnavailable("busy"), 5, poll_interval=10.0, limit=5)

    assert outcome == Failure(
        kind=FailureKind.PROVIDER_ERROR,
        message=ProviderUnavailable("busy").user_message,
    )


def test_without_a_limit_a_retryable_error_is_retried_however_many_came_before():
    outcome = retry_or_fail(
        ProviderNoAnswer("no answer", timed_out=True),
        1000,
        poll_interval=10.0,
        limit=None,
    )

    assert isinstance(outcome, float)


def test_a_rate_limited_retry_waits_at_least_the_providers_retry_after():
    outcome = retry_or_fail(
        ProviderRateLimited("slow down", retry_after=90.0),
        0,
        poll_interval=10.0,
        limit=None,
        uniform=_longest,
    )

    assert outcome == 90.0


def test_a_garbled_answer_fails_at_once_unless_garbled_answers_are_retried():
    garbled = ProviderProtocolError("not json")

    failed = retry_or_fail(garbled, 0, poll_interval=10.0, limit=None)
    retried = retry_or_fail(
        garbled, 0, poll_interval=10.0, limit=None, retry_garbled=True
    )

    assert isinstance(failed, Failure)
    assert failed.kind is FailureKind.PROVIDER_ERROR
    assert isinstance(retried, float)


def test_a_refusal_is_never_retried():
    outcome = retry_or_fail(
        ProviderRejected("bad size", status_code=400, field="size"),
        0,
        poll_interval=10.0,
        limit=None,
        retry_garbled=True,
    )

    assert isinstance(outcome, Failure)
    assert outcome.kind is FailureKind.INVALID_INPUT


def test_auth_error_is_a_provider_config_failure_without_the_provider_reason():
    exc = ProviderAuthError(
        "401", status_code=401, code="invalid_key", reason="key sk-abc is revoked"
    )

    failure = failure_for(exc)

    assert failure.kind is FailureKind.PROVIDER_CONFIG
    assert failure.provider_reason is None
    assert failure.provider_code == "invalid_key"
    assert failure.message == exc.user_message


def test_quota_error_is_a_provider_config_failure_without_the_provider_reason():
    failure = failure_for(ProviderQuotaError("402", reason="account acct_7 is empty"))

    assert failure.kind is FailureKind.PROVIDER_CONFIG
    assert failure.provider_reason is None


def test_auth_error_tells_the_operator_in_the_log(caplog):
    failure_for(ProviderAuthError("401", status_code=401, reason="revoked"))

    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert "SORA_API_KEY" in record.getMessage()


def test_moderation_fails_at_the_stage_that_refused_with_the_providers_words():
    exc = ProviderModerated(
        "refused", stage=FailureKind.MODERATION_IMAGE, reason="a face was found"
    )

    failure = failure_for(exc)

    assert failure.kind is FailureKind.MODERATION_IMAGE
    assert failure.provider_reason == "a face was found"


def test_a_refused_request_is_invalid_input_with_the_providers_words():
    failure = failure_for(ProviderRejected("400", reason="size must be 720x1280"))

    assert failure.kind is FailureKind.INVALID_INPUT
    assert failure.provider_reason == "size must be 720x1280"


def test_any_other_provider_error_is_a_provider_error():
    assert failure_for(ProviderError("500")).kind is FailureKind.PROVIDER_ERROR


def test_a_create_not_resent_says_why_and_that_nothing_was_sent_twice():
    failure = not_resent("had not answered when the bot stopped")

    assert failure.kind is FailureKind.PROVIDER_ERROR
    assert "had not answered when the bot stopped" in failure.message
    assert "paid twice" in failure.message


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _provider(
    client: httpx.AsyncClient, dialect: str, profile: CapabilityProfile | None = None
) -> VideoProvider:
    return make_provider(
        dialect,
        base_url="https://relay.example",
        api_key="k",
        client=client,
        profile=profile,
    )


async def test_callbacks_go_under_the_public_url_without_its_trailing_slash(client):
    provider = _provider(client, "sora")

    assert callback_base("http://bot.example/", provider) == "http://bot.example"


async def test_without_a_public_url_tasks_are_only_polled(client):
    assert callback_base(None, _provider(client, "sora")) is None


async def test_a_dialect_without_callbacks_is_only_polled(client):
    assert callback_base("https://bot.example", _provider(client, "openai")) is None


async def test_an_https_only_dialect_gets_no_callbacks_at_a_plain_http_url(client):
    profile = dialect_profile("sora").model_copy(update={"https_callbacks_only": True})
    provider = _provider(client, "sora", profile)

    assert callback_base("http://bot.example", provider) is None
    assert callback_base("HTTPS://bot.example", provider) == "HTTPS://bot.example"
