"""SIGINT and SIGTERM as an event that commands race their work against.

A one-off command (``generate``, ``resume``) must stop promptly and cleanly on a
signal, leaving its task saved for ``sorabot resume``; the long-running ``run`` asks
the runtime to stop instead. Both go through ``Signals``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")


class Interrupted(Exception):
    """A signal arrived while a command was waiting; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """Installed once per process, inside the running event loop (``install``).

    ``received`` is the signal number once one arrived (0 before); callbacks added
    with ``on_signal`` run on arrival, or at once if it already arrived.
    """

    def __init__(self) -> None:
        self.received = 0
        self._event = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def on_signal(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        if self.received:
            callback()

    def _on_signal(self, signum: int) -> None:
        self.received = signum
        self._event.set()
        for callback in self._callbacks:
            callback()

    async def race(self, work: Awaitable[_T]) -> _T:
        """``work``'s result, or ``Interrupted`` as soon as a signal arrives."""
        job = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait((job, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not job.done():
            job.cancel()
            raise Interrupted(self.received)
        return job.result()
