"""Readiness (``GET /readyz``): may this bot be sent work right now?

Liveness (``/healthz``) only says the process runs. Ready means every part a
request needs answers: the database, each configured chat platform, and at least
one video provider. Parts register a named check when they are wired; a check
returns None when all is well, or one sentence saying what is wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Check = Callable[[], Awaitable[str | None]]

# A probe must answer quickly: orchestrators time out after a few seconds, and a
# part that takes longer than this to say it is fine is not fine.
CHECK_TIMEOUT = 2.0


class Readiness:
    """The named checks behind ``/readyz``; adapters ``add`` theirs on attach."""

    def __init__(self, timeout: float = CHECK_TIMEOUT) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout = timeout

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def problems(self) -> dict[str, str]:
        """Each failing check's name and reason; empty when ready."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        return {name: why for name, why in zip(names, results, strict=True) if why}

    async def _run(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                return await check()
        except TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except Exception as exc:  # a broken check must not break the probe
            return f"the check failed ({type(exc).__name__})"
