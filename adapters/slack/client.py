"""The Web API client: one shared HTTP session, and 429s that slow everyone down.

slack-sdk retries only connection errors by default. Here every 429 is retried after
its ``Retry-After``, and a 429 on ``chat.update`` also pauses the workspace's shared
edit budget, so the other jobs' status edits wait instead of drawing more 429s.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.throttle import TokenBucket

# Tier 3 methods whose calls spend the shared edit budget.
BUDGETED_METHODS = ("chat.update",)


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0])
            except ValueError:
                break
    return 1.0


class PausingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After; for budgeted methods, pauses the budget too."""

    def __init__(self, budget: TokenBucket, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._budget = budget

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None and request.url.endswith(BUDGETED_METHODS):
            self._budget.pause(_retry_after(response))
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def make_web_client(
    token: str,
    *,
    base_url: str | None,
    session: aiohttp.ClientSession,
    budget: TokenBucket,
    proxy: str | None = None,
) -> AsyncWebClient:
    """A client on ``session`` (bolt copies it per request, session included).

    ``session`` decides each request's proxy; ``proxy`` (credentials left out) only
    keeps slack-sdk from reading ``HTTPS_PROXY`` itself, which it would log, with
    any password in it, at DEBUG.
    """
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(),
        PausingRateLimitHandler(budget),
    ]
    return AsyncWebClient(
        token=token,
        base_url=base_url or AsyncWebClient.BASE_URL,
        session=session,
        retry_handlers=handlers,
        proxy=proxy,
    )
