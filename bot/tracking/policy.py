"""The tracker's rules, as pure functions: how long to wait, when to give up, why.

Kept apart from the steps that apply them so each rule can be read, and tested,
without a store, a provider or a clock: the steps only ask and then act.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderModerated,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    not_resent_message,
)
from bot.models import Failure, FailureKind
from bot.ports import VideoProvider

log = logging.getLogger(__name__)

Uniform = Callable[[float, float], float]

MAX_DOWNLOAD_ATTEMPTS = 6
MAX_POLL_PROTOCOL_ERRORS = 5
MAX_DELIVERY_ATTEMPTS = 5
# The least time a create is given to be answered, even late in its window.
MIN_CREATE_WINDOW = 5.0
# Polls come this share of the interval apart, so a finished task is noticed
# within one interval even when a query starts a little late.
POLL_SHARE = 0.95
NO_OUTCOME = "The video service could not make this video."
NONE_TOOK = (
    "No video service could take this request right now (busy or unreachable); "
    "nothing was charged. Press Retry to try again."
)
TOOK_TOO_LONG = "The video took too long."
NOT_POSTED = "The video was made but could not be posted here."
MAYBE_POSTED = (
    "The video was made, but the bot stopped while posting it. If it is not in "
    "this thread, press Retry to make it again."
)
# Posting a task's outcome is claimed under this key for longer than any task
# lives, so a replica that takes the task over never posts it a second time.
DELIVERY_CLAIM_TTL = 7 * 24 * 3600.0


def delivery_claim(task_id: str) -> str:
    """The ``claim_once`` key for posting ``task_id``'s video or reason."""
    return f"deliver:{task_id}"


def backoff(
    errors: int,
    poll_interval: float,
    retry_after: float | None = None,
    *,
    uniform: Uniform = random.uniform,
) -> float:
    """Seconds to wait after ``errors`` failed attempts in a row.

    Doubling from a couple of seconds up to a cap of a few polls, jittered so
    tasks that failed together do not retry together, and never sooner than the
    provider's ``retry_after``.
    """
    base = min(poll_interval, 2.0)
    cap = max(poll_interval * 6, 60.0)
    delay = min(cap, base * 2.0 ** min(errors, 16)) * uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


def retry_or_fail(
    exc: ProviderError,
    errors: int,
    *,
    poll_interval: float,
    limit: int | None,
    retry_garbled: bool = False,
    uniform: Uniform = random.uniform,
) -> float | Failure:
    """The wait before trying again after ``exc``, or why the task failed for good.

    ``errors`` counts the failed attempts before this one; ``limit`` bounds them
    (None: until the task's deadline); ``retry_garbled`` also retries answers that
    could not be understood. The caller counts the retry and schedules it.
    """
    retryable = exc.retryable or (
        retry_garbled and isinstance(exc, ProviderProtocolError)
    )
    if retryable and (limit is None or errors < limit):
        retry_after = exc.retry_after if isinstance(exc, ProviderRateLimited) else None
        return backoff(errors + 1, poll_interval, retry_after, uniform=uniform)
    return failure_for(exc)


def callback_base(public_url: str | None, provider: VideoProvider) -> str | None:
    """Where the provider's callbacks go, or None to rely on polling alone."""
    if not public_url or not provider.profile.callbacks:
        return None
    if provider.profile.https_callbacks_only and not public_url.lower().startswith(
        "https://"
    ):
        # Sending it anyway would get every create refused.
        log.warning(
            "PUBLIC_URL is not https and the %s dialect accepts only https callback "
            "URLs, so tasks are polled without callbacks.",
            provider.dialect,
        )
        return None
    return public_url.rstrip("/")


def not_resent(why: str) -> Failure:
    """A create may be out with no answer saved: it is not sent again, and why."""
    return Failure(kind=FailureKind.PROVIDER_ERROR, message=not_resent_message(why))


def failure_for(exc: ProviderError) -> Failure:
    """Why the task failed for good, for the member (and the operator's log)."""
    kind = failure_kind(exc)
    return Failure(
        kind=kind,
        message=exc.user_message,
        provider_code=exc.code,
        # The operator's key and account are no business of the channel's.
        provider_reason=None if kind is FailureKind.PROVIDER_CONFIG else exc.reason,
    )


def failure_kind(exc: ProviderError) -> FailureKind:
    """Whose problem ``exc`` is: the operator's, the moderation's, the request's."""
    if isinstance(exc, ProviderAuthError | ProviderQuotaError):
        # The operator must act; the user only hears that an operator was told.
        problem = (
            "API key was refused"
            if isinstance(exc, ProviderAuthError)
            else "account is out of credit or quota"
        )
        log.error(
            "The video service says the bot's %s (HTTP %s, code %s): %s. "
            "Check SORA_API_KEY and the provider account.",
            problem,
            getattr(exc, "status_code", None),
            getattr(exc, "code", None),
            exc.reason or "no reason given",
        )
        return FailureKind.PROVIDER_CONFIG
    if isinstance(exc, ProviderModerated):
        return exc.stage
    if isinstance(exc, ProviderRejected):
        return FailureKind.INVALID_INPUT
    return FailureKind.PROVIDER_ERROR
