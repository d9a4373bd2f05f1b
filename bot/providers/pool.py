"""The configured providers, in priority order, and the rules for sending to them.

A new task goes to the first provider, in priority order, that can make it (its
capability profile has no refusal) and whose circuit is not open. It moves on to
the next provider only when the answer proves the create was not taken: the
connection was never made (refused, DNS, TLS), 429, 502, 503, 504, a refused key
or empty account, or an error code that says so. A create whose outcome is
unknown (a timeout after the body was sent, a connection lost mid-answer, a 500,
a garbled 200) is never sent again, to any provider: nobody pays twice.

Once a provider took a task, its status queries and download go to that provider
only (``get``), and its circuit breaker hears how each call went.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from bot.capabilities import CapabilityProfile
from bot.errors import (
    ConfigError,
    CreateOutcomeUnknown,
    ProviderAuthError,
    ProviderError,
    ProviderNoAnswer,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnavailable,
)
from bot.models import GenerationRequest, TaskStatus, VideoResult
from bot.ports import VideoProvider
from bot.providers.breaker import CircuitBreaker, CircuitState

log = logging.getLogger(__name__)

T = TypeVar("T")

# Gateways and relays answer these when they did not take the request.
_NOT_ACCEPTED_STATUS = frozenset({429, 502, 503, 504})
# Error codes relays use for "no capacity / no upstream channel", whatever the
# HTTP status (new-api answers "get_channel_failed" with a 500).
_NOT_ACCEPTED_CODES = frozenset(
    {
        "get_channel_failed",
        "no_available_channel",
        "model_not_found",
        "service_unavailable",
        "server_overloaded",
        "overloaded",
        "resource_exhausted",
    }
)


class CreateVerdict(StrEnum):
    """What a failed create proves about the provider having taken it."""

    NOT_ACCEPTED = "not_accepted"  # provably not taken: another provider may try
    REFUSED = "refused"  # this request was refused: the member is told why
    UNKNOWN = "unknown"  # may have been taken: never sent again


def create_verdict(exc: ProviderError) -> CreateVerdict:
    """Whether a create that raised ``exc`` may be sent to the next provider."""
    if exc.not_sent:
        return CreateVerdict.NOT_ACCEPTED
    if isinstance(exc, ProviderRateLimited | ProviderAuthError | ProviderQuotaError):
        return CreateVerdict.NOT_ACCEPTED
    if exc.status_code in _NOT_ACCEPTED_STATUS or exc.code in _NOT_ACCEPTED_CODES:
        return CreateVerdict.NOT_ACCEPTED
    if isinstance(exc, ProviderProtocolError) and exc.status_code == 404:
        return CreateVerdict.NOT_ACCEPTED  # no such route: a wrong base URL
    if isinstance(exc, ProviderRejected | ProviderTaskUnknown):
        return CreateVerdict.REFUSED
    return CreateVerdict.UNKNOWN


def _what_happened(exc: ProviderError) -> str:
    """The member's words for a create answer that leaves the outcome unknown."""
    if isinstance(exc, ProviderNoAnswer):
        return (
            "did not answer in time"
            if exc.timed_out
            else "broke off the connection before answering"
        )
    if isinstance(exc, ProviderProtocolError):
        return "sent an answer the bot could not understand"
    return "answered with an error after it had the request"


def counts_against(exc: ProviderError) -> bool:
    """Whether ``exc`` is the provider's fault, for its circuit breaker."""
    return isinstance(
        exc,
        ProviderUnavailable
        | ProviderRateLimited
        | ProviderProtocolError
        | ProviderAuthError
        | ProviderQuotaError,
    )


@dataclass(frozen=True, slots=True)
class PoolMember:
    """One configured provider: its name, client, base URL and circuit breaker."""

    name: str
    provider: VideoProvider
    url: str
    breaker: CircuitBreaker

    @property
    def profile(self) -> CapabilityProfile:
        return self.provider.profile

    @property
    def usable(self) -> bool:
        """Reachable of late, and its circuit not open."""
        return self.provider.usable and self.breaker.state is not CircuitState.OPEN

    async def query(self, provider_task_id: str) -> TaskStatus:
        return await self._record(self.provider.query(provider_task_id))

    async def download(
        self, provider_task_id: str, status: TaskStatus, dest: Path
    ) -> VideoResult:
        download = self.provider.download(provider_task_id, status, dest)
        return await self._record(download)

    async def _record(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except ProviderError as exc:
            if counts_against(exc):
                self.breaker.record(False)
            raise
        self.breaker.record(True)
        return result


@dataclass(frozen=True, slots=True)
class Placed:
    """A create that a provider took."""

    member: PoolMember
    provider_task_id: str


class NoProviderTook(Exception):
    """Every provider that can make the request proved it did not take it.

    ``errors`` are (provider name, error) in the order tried; empty when every
    capable provider's circuit was open, so none was tried.
    """

    def __init__(self, errors: Sequence[tuple[str, ProviderError]]) -> None:
        super().__init__("no provider took the request")
        self.errors = list(errors)

    @property
    def retryable(self) -> bool:
        """Whether trying again later may work (not only refused keys and quotas)."""
        return not self.errors or any(exc.retryable for _, exc in self.errors)

    @property
    def retry_after(self) -> float | None:
        """The shortest wait a rate-limiting provider asked for, if any."""
        waits = [
            exc.retry_after
            for _, exc in self.errors
            if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None
        ]
        return min(waits) if waits else None


Send = Callable[[PoolMember], Awaitable[str]]


class ProviderPool:
    """The configured providers by name, in priority order (first is preferred).

    Raises ``ConfigError`` when ``members`` is empty or names repeat.
    """

    def __init__(self, members: Sequence[PoolMember]) -> None:
        if not members:
            raise ConfigError("No provider is configured.")
        self.members = tuple(members)
        self._by_name = {m.name: m for m in self.members}
        if len(self._by_name) != len(self.members):
            raise ConfigError("Two configured providers have the same name.")

    @property
    def primary(self) -> PoolMember:
        return self.members[0]

    @property
    def profiles(self) -> tuple[CapabilityProfile, ...]:
        """The providers' capability profiles in priority order."""
        return tuple(m.profile for m in self.members)

    @property
    def usable(self) -> bool:
        """Whether some provider can take a request now (``/readyz``)."""
        return any(m.usable for m in self.members)

    def get(self, name: str) -> PoolMember | None:
        return self._by_name.get(name)

    def route(
        self, request: GenerationRequest, *, last: str | None = None
    ) -> list[PoolMember]:
        """The providers that can make ``request``, in the order to try them.

        When no profile takes it (the service's validation refuses such requests
        before they are stored), every provider is tried in order and its own
        answer decides, as with a single provider. ``last`` goes to the end: a
        retry after a create whose outcome at that provider was unknown tries the
        others first. A provider's own remix goes only to the provider that made
        the source video.
        """
        if request.remix_at is not None:
            return [m for m in self.members if m.name == request.remix_at]
        able = [m for m in self.members if m.profile.refusal(request) is None]
        return sorted(able or self.members, key=lambda m: m.name == last)

    async def place(
        self,
        request: GenerationRequest,
        send: Send,
        *,
        window: float,
        last: str | None = None,
    ) -> Placed:
        """Send the create to the first provider that takes it, within ``window`` s.

        ``send(member)`` makes and sends the create to one provider. Raises
        ``CreateOutcomeUnknown`` (never to be re-sent), the ``ProviderError`` of a
        provider that refused the request itself, or ``NoProviderTook``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        errors: list[tuple[str, ProviderError]] = []
        for member in self.route(request, last=last):
            left = deadline - loop.time()
            if left <= 0:
                break
            if not member.breaker.allow():
                continue
            try:
                async with asyncio.timeout(left):
                    provider_task_id = await send(member)
            except TimeoutError:
                member.breaker.record(False)
                raise CreateOutcomeUnknown(
                    f"provider {member.name} did not answer the create within "
                    f"{window:.0f} s",
                    provider=member.name,
                ) from None
            except ProviderError as exc:
                member.breaker.record(not counts_against(exc))
                verdict = create_verdict(exc)
                if verdict is CreateVerdict.UNKNOWN:
                    raise CreateOutcomeUnknown(
                        f"provider {member.name}: {exc}",
                        provider=member.name,
                        why=_what_happened(exc),
                    ) from exc
                if verdict is CreateVerdict.REFUSED:
                    raise
                # A refused key or an empty account needs the operator.
                operator = isinstance(exc, ProviderAuthError | ProviderQuotaError)
                log.log(
                    logging.ERROR if operator else logging.WARNING,
                    "provider %s did not take the create (%s, HTTP %s); trying the "
                    "next",
                    member.name,
                    type(exc).__name__,
                    exc.status_code,
                )
                errors.append((member.name, exc))
                continue
            member.breaker.record(True)
            return Placed(member, provider_task_id)
        raise NoProviderTook(errors)
