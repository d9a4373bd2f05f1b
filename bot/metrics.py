"""What the bot counts for Prometheus (``GET /metrics``), defined in one place.

Every ``Runtime`` owns a ``Metrics`` with its own ``CollectorRegistry``, so several
runtimes in one process (the tests) never share or clash over a series. Code that
records takes the object it needs from here and calls one method at its hook point.

Status queries run about a thousand times a second at 10,000 tasks, so every
labelled child on a hot path is resolved once (``labels()`` at construction) and a
request costs one histogram observation, no dict or label tuple built per call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import aiohttp
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

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
    ProviderURLRefused,
    ProviderVideoTooLarge,
)
from bot.models import FailureKind, Platform, Task, TaskState

RequestKind = Literal["create", "query", "download"]
REQUEST_KINDS: tuple[RequestKind, ...] = ("create", "query", "download")

# Status queries take milliseconds; creates with an upload and downloads take
# seconds to minutes.
PROVIDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

# The ``error`` label of provider errors: a handful of values, one per way to fail.
_ERROR_LABELS: tuple[tuple[type[ProviderError], str], ...] = (
    (ProviderAuthError, "auth"),
    (ProviderQuotaError, "quota"),
    (ProviderRateLimited, "rate_limited"),
    (ProviderTaskUnknown, "unknown_task"),
    (ProviderModerated, "moderated"),
    (ProviderRejected, "rejected"),
    (ProviderUnavailable, "unavailable"),
    (ProviderProtocolError, "protocol"),
    (ProviderURLRefused, "url_refused"),
    (ProviderVideoTooLarge, "too_large"),
)
# A provider counts as unusable after this many requests in a row never reached
# it, until this many seconds have passed since the last one (then it may be tried
# again, so a bot with nothing to retry does not stay unready for ever).
UNREACHABLE_AFTER = 3
UNREACHABLE_FOR = 30.0


def error_label(error: ProviderError) -> str:
    return next(
        (label for cls, label in _ERROR_LABELS if isinstance(error, cls)), "other"
    )


class ProviderMeter:
    """One provider's request latency and errors, and whether it can be reached.

    Args:
        metrics: where the series live.
        provider: the provider's configured name (``default`` for the only one).
        dialect: the API dialect it speaks.
    """

    def __init__(self, metrics: Metrics, provider: str, dialect: str) -> None:
        self._latency = {
            kind: metrics.provider_request_seconds.labels(provider, dialect, kind)
            for kind in REQUEST_KINDS
        }
        self._errors = metrics.provider_errors
        self._labels = (provider, dialect)
        self._unreached = 0
        self._last_unreached = 0.0

    def answered(self, kind: RequestKind, started: float) -> None:
        """The provider answered (any HTTP status) a request sent at ``started``
        (``time.perf_counter()``)."""
        self._latency[kind].observe(time.perf_counter() - started)
        self._unreached = 0

    def failed(
        self, kind: RequestKind, error: ProviderError, *, reached: bool = True
    ) -> ProviderError:
        """Count ``error`` and hand it back to raise; ``reached=False`` when the
        request never got an answer (refused, reset, timed out)."""
        label = error_label(error) if reached else "unreachable"
        self._errors.labels(*self._labels, kind, label).inc()
        if not reached:
            self._unreached += 1
            self._last_unreached = time.monotonic()
        return error

    @property
    def usable(self) -> bool:
        """False while the last few requests all failed to reach the provider."""
        return (
            self._unreached < UNREACHABLE_AFTER
            or time.monotonic() - self._last_unreached > UNREACHABLE_FOR
        )


class Metrics:
    """The bot's Prometheus series on a registry of its own; see the README list."""

    def __init__(self) -> None:
        registry = CollectorRegistry()
        self.registry = registry
        # What prometheus_client registers globally by default, here per runtime.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

        self.tasks = Counter(
            "sorabot_tasks",
            "Tasks that reached each state.",
            ["state"],
            registry=registry,
        )
        self.task_failures = Counter(
            "sorabot_task_failures",
            "Tasks that failed, by failure kind.",
            ["kind"],
            registry=registry,
        )
        self.tasks_in_flight = Gauge(
            "sorabot_tasks_in_flight",
            "Tasks the tracker is carrying (in flight or awaiting delivery).",
            registry=registry,
        )
        self.replicas = Gauge(
            "sorabot_replicas",
            "Replicas alive on this database, this one included (heartbeats).",
            registry=registry,
        )
        self.tasks_taken_over = Counter(
            "sorabot_tasks_taken_over",
            "Tasks this replica leased from nobody after start: released by a "
            "replica that stopped, or left by one whose lease ran out.",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "sorabot_queue_depth",
            "Task steps due and waiting for a worker (fast: submits and status "
            "queries; slow: downloads and deliveries).",
            ["lane"],
            registry=registry,
        )
        self.provider_request_seconds = Histogram(
            "sorabot_provider_request_duration_seconds",
            "Time until the video provider answered a request.",
            ["provider", "dialect", "kind"],
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.provider_errors = Counter(
            "sorabot_provider_errors",
            "Provider requests that failed, by way of failing.",
            ["provider", "dialect", "kind", "error"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "sorabot_delivery_duration_seconds",
            "Time from the provider reporting a video finished to it being posted.",
            ["platform"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.chat_calls = Counter(
            "sorabot_chat_api_calls",
            "HTTP requests made to a chat platform's API.",
            ["platform"],
            registry=registry,
        )
        self.chat_rate_limited = Counter(
            "sorabot_chat_api_rate_limited",
            "Chat platform API requests answered 429 (rate limited).",
            ["platform"],
            registry=registry,
        )
        self.edits_coalesced = Counter(
            "sorabot_status_edits_coalesced",
            "Status edits replaced by a newer one before they were sent.",
            ["platform"],
            registry=registry,
        )
        # Resolved once; every known label value is exported from the start, so
        # rate() and the dashboard see a zero before the first event.
        self._states = {state: self.tasks.labels(state.value) for state in TaskState}
        self._failures = {
            kind: self.task_failures.labels(kind.value) for kind in FailureKind
        }
        self._delivery = {
            platform: self.delivery_seconds.labels(platform.value)
            for platform in Platform
        }
        for platform in (Platform.DISCORD, Platform.SLACK):
            for series in (
                self.chat_calls,
                self.chat_rate_limited,
                self.edits_coalesced,
            ):
                series.labels(platform.value)

    def task_reached(self, task: Task) -> None:
        """Count ``task`` reaching its (just saved) state."""
        self._states[task.state].inc()
        if task.state is TaskState.FAILED and task.failure is not None:
            self._failures[task.failure.kind].inc()

    def delivered(self, task: Task, finished_at: float | None, now: float) -> None:
        """``task``'s outcome was posted at ``now``; a video's delivery time counts
        from ``finished_at``, when the provider said it was done (unknown after a
        restart)."""
        if finished_at is not None and task.state is TaskState.SUCCEEDED:
            self._delivery[task.chat.platform].observe(now - finished_at)

    def watch_tracker(
        self,
        tracked: Callable[[], int],
        queued: Callable[[bool], int],
        replicas: Callable[[], int],
    ) -> None:
        """Read the tracker's gauges when scraped (costs nothing in between)."""
        self.tasks_in_flight.set_function(tracked)
        self.replicas.set_function(replicas)
        self.queue_depth.labels("fast").set_function(lambda: queued(False))
        self.queue_depth.labels("slow").set_function(lambda: queued(True))

    def provider(self, name: str, dialect: str) -> ProviderMeter:
        return ProviderMeter(self, name, dialect)

    def edit_coalesced(self, platform: Platform) -> Callable[[], None]:
        """The counter increment for ``platform``'s ``EditCoalescer``."""
        return self.edits_coalesced.labels(platform.value).inc

    def chat_trace(self, platform: Platform) -> aiohttp.TraceConfig:
        """Counts every request (and 429) an aiohttp session sends to ``platform``.

        Both chat SDKs run on aiohttp: discord.py takes it as ``http_trace`` and
        the Slack adapter builds its session with it, so each attempt is counted,
        retries of a 429 included, without wrapping either SDK.
        """
        calls = self.chat_calls.labels(platform.value)
        limited = self.chat_rate_limited.labels(platform.value)

        async def on_end(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            status = params.response.status
            if status == 101:  # the gateway or Socket Mode websocket opening
                return
            calls.inc()
            if status == 429:
                limited.inc()

        async def on_exception(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            calls.inc()

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
