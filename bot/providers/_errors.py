"""HTTP error answers mapped to the ``ProviderError`` tree, the same for every dialect.

400/422 name the refused field (or, when the words are a content-policy refusal, the
moderation stage), 401/403 blame the operator's key, 402 and quota codes mean no
credit, 404 or ``task_not_exist`` an unknown task, 429 carries Retry-After, and
408/5xx and "out of capacity" codes are retryable. The provider's words go with the
error as ``reason``, cut to one safe line: never raw JSON, never a key.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Collection, Mapping

from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderModerated,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnavailable,
)
from bot.models import FailureKind
from bot.providers._failures import failure_kind, plain_reason
from bot.providers._normalise import dig, text

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "insufficient_quota_error",
        "insufficient_user_quota",
        "insufficient_balance",
        "quota_exceeded",
    }
)
# unified's relays out of capacity: a passing state, not the operator's credit.
_CAPACITY_CODES = frozenset({"resource_exhausted", "service_unavailable"})
_MODERATION_STAGES = frozenset(
    {
        FailureKind.MODERATION,
        FailureKind.MODERATION_PROMPT,
        FailureKind.MODERATION_IMAGE,
        FailureKind.MODERATION_OUTPUT,
    }
)
_UNKNOWN_TASK_CODES = frozenset(
    {"task_not_exist", "task_not_found", "not_found_error", "resource_not_found"}
)
_RETRY_HINT_RE = re.compile(r"retry after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)


def parse_retry_after(headers: Mapping[str, str], body: object = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an
    HTTP date) or a "retry after N seconds" hint in the error body."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _number(raw_ms)
        if seconds is not None:
            return seconds / 1000
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = _number(raw)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    hint = text(dig(body, "error", "fallback_suggestion"))
    match = _RETRY_HINT_RE.search(hint) if hint else None
    return float(match.group(1)) if match else None


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None


def _details(body: object) -> tuple[str | None, list[str], str | None]:
    """(message, codes, param) from the error shapes the references list."""
    error = dig(body, "error")
    message = (
        text(dig(error, "message"))
        or text(error)
        or text(dig(body, "message"))
        or text(dig(body, "detail"))
        or text(dig(body, "fail_reason"))
    )
    # new-api repeats its code as the message ("task_not_exist"), so a one-word
    # message counts as a code too.
    candidates = (
        text(dig(error, "code")),
        text(dig(error, "type")),
        text(dig(body, "code")),
        message if message and " " not in message else None,
    )
    codes = list(dict.fromkeys(c.lower() for c in candidates if c))
    return message, codes, text(dig(error, "param")) or text(dig(body, "param"))


def _redact(message: str | None, secret: str | None) -> str | None:
    message = plain_reason(message)
    if message is None:
        return None
    return message.replace(secret, "***") if secret else message


def _field_named(message: str | None, fields: Collection[str]) -> str | None:
    if not message:
        return None
    for name in sorted(fields, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message):
            return name
    return None


def error_for(
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    fields: Collection[str] = (),
    secret: str | None = None,
    task_route: bool = True,
) -> ProviderError:
    """The ``ProviderError`` for an HTTP error answer (or an in-band error envelope).

    ``fields`` are the names we sent, so a 400 that mentions one can say which;
    ``task_route`` is False for routes where 404 means a wrong base URL, not an
    unknown task.
    """
    raw_message, codes, param = _details(body)
    said = _redact(raw_message, secret)
    detail = f": {said}" if said else ""
    code = codes[0] if codes else None
    known = set(codes)
    if status in (401, 403):
        return ProviderAuthError(
            f"The video service refused the API key (HTTP {status}){detail}. "
            "Check SORA_API_KEY.",
            status_code=status,
            code=code,
            reason=said,
        )
    if status == 402 or known & _QUOTA_CODES:
        return ProviderQuotaError(
            f"The video service account is out of credit (HTTP {status}){detail}.",
            status_code=status,
            code=code,
            reason=said,
        )
    if task_route and (status == 404 or known & _UNKNOWN_TASK_CODES):
        return ProviderTaskUnknown(
            f"The video service does not know this task (HTTP {status}){detail}.",
            status_code=status,
            code=code,
        )
    if status == 404:
        return ProviderProtocolError(
            f"The video service has no such route (HTTP 404){detail}. "
            "Check SORA_API_URL and SORA_API_DIALECT.",
            status_code=status,
            code=code,
        )
    if status == 429:
        return ProviderRateLimited(
            f"The video service is rate limiting us{detail}.",
            retry_after=parse_retry_after(headers or {}, body),
            code=code,
        )
    if status == 408 or status >= 500 or known & _CAPACITY_CODES:
        return ProviderUnavailable(
            f"The video service is unavailable (HTTP {status}){detail}.",
            status_code=status,
            code=code,
            reason=said,
        )
    stage = failure_kind(raw_message, code)
    if stage in _MODERATION_STAGES:
        return ProviderModerated(
            said or f"HTTP {status}",
            stage=stage,
            status_code=status,
            code=code,
            reason=said,
        )
    field = param if param in fields or not fields else None
    return ProviderRejected(
        said or f"HTTP {status}",
        status_code=status,
        code=code,
        field=field or _field_named(raw_message, fields),
        reason=said,
    )
