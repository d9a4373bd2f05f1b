"""HTTP answers become the right ``ProviderError``, with safe, useful messages."""

# ruff: noqa: RUF001 - Chinese relays answer with full-width punctuation.

from __future__ import annotations

import email.utils
import time

import pytest

from bot.errors import (
    ProviderAuthError,
    ProviderModerated,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnavailable,
)
from bot.models import FailureKind
from bot.providers._errors import error_for, parse_retry_after

KEY = "sk-live-0123456789abcdef"


def test_400_with_param_names_the_refused_field():
    body = {
        "error": {
            "code": 400,
            "message": "duration must be 10 or 15",
            "type": "invalid_request_error",
            "param": "duration",
        }
    }

    error = error_for(400, body, fields=["prompt", "duration"])

    assert isinstance(error, ProviderRejected)
    assert error.field == "duration"
    assert "(field `duration`)" in error.user_message
    assert error.reason == "duration must be 10 or 15"


@pytest.mark.parametrize(
    ("body", "stage"),
    [
        (
            {
                "error": {
                    "code": 400,
                    "message": "Your prompt was flagged by moderation: living "
                    "celebrities",
                    "type": "invalid_request_error",
                    "param": "prompt",
                }
            },
            FailureKind.MODERATION_PROMPT,
        ),
        (
            {"code": "error", "message": "输入图片包含真人，请更换图片", "data": None},
            FailureKind.MODERATION_IMAGE,
        ),
        (
            {"error": {"message": "提示词违规", "type": "new_api_error"}},
            FailureKind.MODERATION_PROMPT,
        ),
    ],
)
def test_a_create_refused_for_moderation_names_the_stage(body, stage):
    error = error_for(400, body, fields=["prompt", "images"])

    assert isinstance(error, ProviderModerated)
    assert error.stage is stage
    assert not error.retryable
    assert error.reason is not None
    assert error.reason in str(body)


def test_unified_resource_exhausted_is_out_of_capacity_and_retryable():
    body = {"error": {"code": "resource_exhausted", "message": "No GPUs free"}}

    error = error_for(400, body)

    assert isinstance(error, ProviderUnavailable)
    assert not isinstance(error, ProviderQuotaError)
    assert error.retryable


def test_422_without_param_finds_the_field_in_the_message():
    body = {"message": "aspect_ratio: expected one of 16:9, 9:16"}

    error = error_for(422, body, fields=["prompt", "aspect_ratio", "hd"])

    assert isinstance(error, ProviderRejected)
    assert error.field == "aspect_ratio"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_blames_the_operator_and_never_shows_the_key(status):
    body = {"error": {"message": f"Invalid token {KEY}", "type": "new_api_error"}}

    error = error_for(status, body, secret=KEY)

    assert isinstance(error, ProviderAuthError)
    assert not error.retryable
    assert KEY not in str(error)
    assert KEY not in error.user_message
    assert "SORA_API_KEY" in str(error)


def test_bearer_tokens_in_provider_messages_are_redacted_even_if_not_ours():
    error = error_for(400, {"message": "bad header Bearer abc.def.ghi"})

    assert "abc.def.ghi" not in str(error)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (402, {"error": {"message": "no money", "type": "insufficient_quota_error"}}),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your quota",
                    "code": "insufficient_quota",
                }
            },
        ),
        (400, {"code": "quota_exceeded", "message": "quota exceeded"}),
    ],
)
def test_quota_exhaustion_is_not_a_rate_limit(status, body):
    error = error_for(status, body)

    assert isinstance(error, ProviderQuotaError)
    assert not error.retryable


def test_404_on_a_task_route_is_an_unknown_task():
    assert isinstance(error_for(404, None), ProviderTaskUnknown)


def test_task_not_exist_with_400_is_an_unknown_task():
    body = {"code": "task_not_exist", "message": "task_not_exist", "data": None}

    assert isinstance(error_for(400, body), ProviderTaskUnknown)


@pytest.mark.parametrize(
    "body", ["not found", {"error": {"code": 404, "type": "not_found_error"}}]
)
def test_404_on_the_create_route_points_at_the_configuration(body):
    error = error_for(404, body, task_route=False)

    assert isinstance(error, ProviderProtocolError)
    assert "SORA_API_URL" in str(error)


def test_429_carries_retry_after_seconds():
    error = error_for(429, {"message": "slow down"}, {"retry-after": "7"})

    assert isinstance(error, ProviderRateLimited)
    assert error.retryable
    assert error.retry_after == 7.0


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_side_trouble_is_retryable(status):
    error = error_for(status, None)

    assert isinstance(error, ProviderUnavailable)
    assert error.retryable


def test_raw_json_in_an_error_message_never_reaches_the_user():
    error = error_for(400, {"message": '{"upstream": {"detail": "x"}}'})

    assert "{" not in error.user_message


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after": "12"}, None, 12.0),
        ({"retry-after": "1.5"}, None, 1.5),
        ({"retry-after-ms": "250"}, None, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, None, 0.25),
        ({"retry-after": "-3"}, None, 0.0),
        ({"retry-after": "soon"}, None, None),
        ({}, {"error": {"fallback_suggestion": "retry after 60 seconds"}}, 60.0),
        ({}, None, None),
    ],
)
def test_retry_after_forms(headers, body, expected):
    assert parse_retry_after(headers, body) == expected


def test_retry_after_as_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    seconds = parse_retry_after({"retry-after": when})

    assert seconds is not None
    assert 25 <= seconds <= 31
