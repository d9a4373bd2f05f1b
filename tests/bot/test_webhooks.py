"""Standard Webhooks signing and verification (OpenAI project webhooks)."""

from __future__ import annotations

import base64

import pytest

from bot.errors import ConfigError
from bot.webhooks import (
    WebhookVerificationError,
    sign_standard_webhook,
    verify_standard_webhook,
)

# The published Standard Webhooks test vector (also in the Svix libraries' tests):
# reproducing it proves we match every other implementation, not just ourselves.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"type":"video.completed","data":{"id":"video_1"}}'
NOW = 1_760_000_000


def _headers(sig: str, *, ts: int = VECTOR_TIMESTAMP) -> dict[str, str]:
    return {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(ts),
        "webhook-signature": sig,
    }


def test_signing_reproduces_the_published_test_vector():
    headers = sign_standard_webhook(
        VECTOR_BODY, VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP
    )

    assert headers == _headers(VECTOR_SIGNATURE)


def test_the_published_test_vector_verifies():
    verify_standard_webhook(
        VECTOR_BODY,
        _headers(VECTOR_SIGNATURE),
        VECTOR_SECRET,
        now=VECTOR_TIMESTAMP + 10,
    )


def test_header_names_are_case_insensitive():
    headers = {k.title(): v for k, v in _headers(VECTOR_SIGNATURE).items()}

    verify_standard_webhook(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TIMESTAMP)


def test_a_changed_body_is_refused():
    with pytest.raises(WebhookVerificationError, match="no webhook-signature"):
        verify_standard_webhook(
            VECTOR_BODY + b" ",
            _headers(VECTOR_SIGNATURE),
            VECTOR_SECRET,
            now=VECTOR_TIMESTAMP,
        )


def test_a_signature_made_with_another_secret_is_refused():
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes.....").decode()
    headers = sign_standard_webhook(BODY, other, msg_id="evt_1", timestamp=NOW)

    with pytest.raises(WebhookVerificationError):
        verify_standard_webhook(BODY, headers, VECTOR_SECRET, now=NOW)


def test_any_one_matching_signature_among_several_is_enough():
    sigs = f"v1,bm9wZQ== v1a,{VECTOR_SIGNATURE[3:]} {VECTOR_SIGNATURE}"

    verify_standard_webhook(
        VECTOR_BODY, _headers(sigs), VECTOR_SECRET, now=VECTOR_TIMESTAMP
    )


def test_the_right_signature_under_another_version_is_refused():
    sig = "v2," + VECTOR_SIGNATURE.removeprefix("v1,")

    with pytest.raises(WebhookVerificationError):
        verify_standard_webhook(
            VECTOR_BODY, _headers(sig), VECTOR_SECRET, now=VECTOR_TIMESTAMP
        )


@pytest.mark.parametrize(
    ("offset", "reason"), [(-301, "too old"), (301, "in the future")]
)
def test_timestamps_beyond_five_minutes_are_refused(offset, reason):
    headers = sign_standard_webhook(
        BODY, VECTOR_SECRET, msg_id="evt_1", timestamp=NOW + offset
    )

    with pytest.raises(WebhookVerificationError, match=reason):
        verify_standard_webhook(BODY, headers, VECTOR_SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamps_within_five_minutes_are_accepted(offset):
    headers = sign_standard_webhook(
        BODY, VECTOR_SECRET, msg_id="evt_1", timestamp=NOW + offset
    )

    verify_standard_webhook(BODY, headers, VECTOR_SECRET, now=NOW)


@pytest.mark.parametrize(
    "missing", ["webhook-id", "webhook-timestamp", "webhook-signature"]
)
def test_a_missing_header_is_refused_by_name(missing):
    headers = _headers(VECTOR_SIGNATURE)
    del headers[missing]

    with pytest.raises(WebhookVerificationError, match=f"missing {missing}"):
        verify_standard_webhook(
            VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TIMESTAMP
        )


def test_a_non_numeric_timestamp_is_refused():
    headers = _headers(VECTOR_SIGNATURE)
    headers["webhook-timestamp"] = "yesterday"

    with pytest.raises(WebhookVerificationError, match="not a number"):
        verify_standard_webhook(VECTOR_BODY, headers, VECTOR_SECRET)


def test_a_secret_without_the_whsec_prefix_is_used_as_raw_bytes():
    headers = sign_standard_webhook(BODY, "plain secret", msg_id="e", timestamp=NOW)

    verify_standard_webhook(BODY, headers, "plain secret", now=NOW)
    # The same text read as a whsec_ secret would be a different key.
    with pytest.raises(WebhookVerificationError):
        verify_standard_webhook(BODY, headers, VECTOR_SECRET, now=NOW)


def test_whsec_secret_keys_are_the_base64_decoded_bytes():
    raw = b"k" * 24
    headers = sign_standard_webhook(BODY, raw.decode(), msg_id="e", timestamp=NOW)

    verify_standard_webhook(
        BODY, headers, "whsec_" + base64.b64encode(raw).decode(), now=NOW
    )


def test_a_broken_whsec_secret_is_a_config_error_that_does_not_echo_it():
    broken = "whsec_not*base64!"

    with pytest.raises(ConfigError) as caught:
        verify_standard_webhook(
            VECTOR_BODY, _headers(VECTOR_SIGNATURE), broken, now=VECTOR_TIMESTAMP
        )

    assert "not*base64" not in str(caught.value)


def test_errors_never_contain_the_secret_or_the_body():
    with pytest.raises(WebhookVerificationError) as caught:
        verify_standard_webhook(
            BODY, _headers("v1,AAAA"), VECTOR_SECRET, now=VECTOR_TIMESTAMP
        )

    text = str(caught.value)
    assert VECTOR_SECRET[6:] not in text
    assert "video_1" not in text
