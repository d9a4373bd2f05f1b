"""Task callbacks and openai project webhooks, sent when a task ends.

Delivery follows the unified document (the only one that says): POST JSON, a 2xx
answer is success, anything else is retried up to 3 times after 1, 2 and 4 s, each
attempt with a 10 s timeout. Those delays are scaled down for short simulated
durations so tests stay fast. Webhooks are signed the Standard Webhooks way, as
OpenAI signs them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiohttp

from bot.simulator._records import CallbackRecord
from bot.simulator._tasks import Phase, TaskSpec, snapshot
from bot.simulator.dialects._base import Context, Dialect
from bot.webhooks import sign_standard_webhook

DOCUMENTED_RETRY_DELAYS = (1.0, 2.0, 4.0)
_TIMEOUT = 10.0


def default_retry_delays(duration: float) -> tuple[float, ...]:
    """The documented 1/2/4 s, shrunk in proportion when tasks last under 30 s."""
    scale = min(1.0, max(duration, 0.05) / 30)
    return tuple(delay * scale for delay in DOCUMENTED_RETRY_DELAYS)


class Notifier:
    """Schedules deliveries at a task's end and logs every attempt.

    Timers, not sleeping tasks, wait for the end, so ten thousand pending callbacks
    cost ten thousand timer handles and nothing more.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        log: list[CallbackRecord],
        retry_delays: Sequence[float],
        timeout: float = _TIMEOUT,
    ) -> None:
        self._session = session
        self._log = log
        self._delays = tuple(retry_delays)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()
        self._running: set[asyncio.Task[None]] = set()

    def at(self, when: float, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``send()`` at unix time ``when`` (at once if that has passed)."""
        loop = asyncio.get_running_loop()
        key = next(self._keys)
        delay = max(0.0, when - time.time())
        self._timers[key] = loop.call_at(loop.time() + delay, self._start, key, send)

    def _start(self, key: int, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        del self._timers[key]
        task = asyncio.get_running_loop().create_task(send())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def task_callback(
        self, dialect: Dialect, spec: TaskSpec, ctx: Context, url: str
    ) -> None:
        """At the task's end, POST its status answer to ``url``, as documented."""

        async def send() -> None:
            snap = snapshot(spec, max(time.time(), spec.end))
            await self.deliver(
                kind="callback",
                dialect=dialect.name,
                task_id=ctx.task_id,
                url=url,
                payload=dialect.status(spec, snap, ctx),
            )

        self.at(spec.end, send)

    def project_webhook(
        self, spec: TaskSpec, ctx: Context, url: str, secret: str
    ) -> None:
        """At an openai task's end, send a signed ``video.completed``/``failed``."""

        async def send() -> None:
            snap = snapshot(spec, max(time.time(), spec.end))
            done = snap.phase is Phase.SUCCEEDED
            event_id = f"evt_{secrets.token_hex(12)}"
            payload = {
                "id": event_id,
                "object": "event",
                "created_at": int(time.time()),
                "type": "video.completed" if done else "video.failed",
                "data": {"id": ctx.task_id},
            }
            await self.deliver(
                kind="webhook",
                dialect="openai",
                task_id=ctx.task_id,
                url=url,
                payload=payload,
                signing=(secret, event_id),
            )

        self.at(spec.end, send)

    async def deliver(
        self,
        *,
        kind: str,
        dialect: str,
        task_id: str,
        url: str,
        payload: dict[str, Any],
        signing: tuple[str, str] | None = None,
    ) -> None:
        """POST ``payload`` until a 2xx, retrying after each configured delay.

        ``signing`` is ``(secret, message id)`` for Standard Webhooks signatures;
        the id stays the same across retries so receivers can deduplicate.
        """
        body = json.dumps(payload, separators=(",", ":")).encode()
        for attempt, delay in enumerate((0.0, *self._delays), start=1):
            if delay:
                await asyncio.sleep(delay)
            headers = {"Content-Type": "application/json"}
            if signing is not None:
                secret, msg_id = signing
                headers.update(sign_standard_webhook(body, secret, msg_id=msg_id))
            status = await self._post(url, body, headers)
            self._log.append(
                CallbackRecord(
                    kind, dialect, task_id, url, attempt, status, payload, headers
                )
            )
            if status is not None and 200 <= status < 300:
                return

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int | None:
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
