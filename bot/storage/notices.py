"""``Notices`` (see ``bot.ports``): hints from one bot process to every process on
the same database.

SQLite has one process, so ``LocalNotices`` hands a notice to this process's
subscribers. PostgreSQL replicas use ``LISTEN``/``NOTIFY``: ``PostgresNotices``
listens on a connection of its own, because the pool's connections are lent out
to one statement after another and a ``LISTEN`` there would not stay put. That
connection can be lost (a restart of the server, a proxy's idle timeout, an
operator's ``pg_terminate_backend``), so a background task opens another with a
growing pause between attempts, listens again, and calls the ``on_reconnect``
handlers: whatever was sent meanwhile was missed.

Either way a handler runs from the event loop soon after the notice, never inside
``publish``; one that raises is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

# The topics. PostgreSQL's channels are per database: two bots in two schemas of
# one database would hear each other, which costs them only a needless re-read.
POKE_TOPIC = "sorabot_poke"  # a task id: its lease holder should query it now
TASK_TOPIC = "sorabot_task"  # a task id: changed elsewhere, its holder re-reads it
SETTINGS_TOPIC = "sorabot_settings"  # a settings cache key (JSON): drop that entry

# PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; SQLite checks the
# same limit, so a caller's mistake shows on either backend.
MAX_PAYLOAD_BYTES = 7999
# Reconnecting: at once, then after this pause, doubling up to the longest.
RECONNECT_FIRST_PAUSE = 0.5
RECONNECT_LONGEST_PAUSE = 15.0
CONNECT_TIMEOUT = 10.0
# An idle connection whose server vanished without closing it (a network cut)
# shows nothing until something is sent on it: a query this often finds it dead.
CHECK_INTERVAL = 30.0
CHECK_TIMEOUT = 5.0

# The listening connection's name on the server (pg_stat_activity).
APPLICATION_NAME = "sorabot notices"

Handler = Callable[[str], None]
Reconnected = Callable[[], None]

# What losing or failing to reach the database raises (TimeoutError is an OSError).
_CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class StoreNotices(ABC):
    """What both backends' notices share: the subscribers, called safely."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._reconnected: list[Reconnected] = []

    @abstractmethod
    async def publish(self, topic: str, payload: str) -> None:
        """Send ``payload`` (under 8,000 bytes) to every subscriber of ``topic``."""

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(payload)`` for each notice on ``topic``, from any process."""
        self._handlers.setdefault(topic, []).append(handler)

    def on_reconnect(self, handler: Reconnected) -> None:
        """Call ``handler()`` after the listening connection was lost and came back."""
        self._reconnected.append(handler)

    @abstractmethod
    async def start(self) -> None:
        """Begin receiving the topics subscribed so far and those to come."""

    @abstractmethod
    async def listening(self) -> None:
        """Return once every topic subscribed so far is being received."""

    @abstractmethod
    async def close(self) -> None: ...

    def _deliver(self, topic: str, payload: str) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(payload)
            except Exception:
                log.exception("A handler of the %s notice failed", topic)

    def _call_reconnected(self) -> None:
        for handler in list(self._reconnected):
            try:
                handler()
            except Exception:
                log.exception("A handler of the notices' reconnection failed")


def _check_payload(payload: str) -> None:
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a notice's payload must be under 8,000 bytes (got {size})")


class LocalNotices(StoreNotices):
    """Notices within this process (SQLite). Nothing can be lost, so the
    ``on_reconnect`` handlers never run."""

    async def publish(self, topic: str, payload: str) -> None:
        _check_payload(payload)
        # Soon, not now: a publisher must not run its own subscribers inside
        # the call (PostgreSQL could not either), or their order would differ.
        asyncio.get_running_loop().call_soon(self._deliver, topic, payload)

    async def start(self) -> None:
        """Nothing to open."""

    async def listening(self) -> None:
        """Always: subscribing takes effect at once."""

    async def close(self) -> None:
        """Nothing to close."""


class PostgresNotices(StoreNotices):
    """``LISTEN``/``NOTIFY`` on the database at ``url``; publishes through ``pool``.

    ``start`` opens the listening connection (raising if it cannot, as opening
    the store would); from then on a background task keeps one open.
    """

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        super().__init__()
        self._pool = pool
        self._url = url
        self._supervisor: asyncio.Task[None] | None = None
        # Set for a new topic or a lost connection: the supervisor looks again.
        self._wake = asyncio.Event()
        # Set while every subscribed topic is listened for on a live connection.
        self._settled = asyncio.Event()

    async def publish(self, topic: str, payload: str) -> None:
        _check_payload(payload)
        await self._pool.execute("SELECT pg_notify($1, $2)", topic, payload)

    def subscribe(self, topic: str, handler: Handler) -> None:
        new = topic not in self._handlers
        super().subscribe(topic, handler)
        if new:
            self._settled.clear()
            self._wake.set()

    async def start(self) -> None:
        connection = await self._connect()
        listened: set[str] = set()
        try:
            await self._listen(connection, listened)
        except BaseException:
            connection.terminate()
            raise
        self._supervisor = asyncio.create_task(
            self._supervise(connection, listened), name="sorabot notices"
        )

    async def listening(self) -> None:
        await self._settled.wait()

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT,
            # So an operator can tell it apart in pg_stat_activity.
            server_settings={"application_name": APPLICATION_NAME},
        )
        connection.add_termination_listener(self._lost)
        return connection

    def _lost(self, connection: object) -> None:
        # asyncpg calls this whenever the connection closes, ours included.
        self._wake.set()

    def _notified(
        self, connection: object, pid: int, channel: str, payload: object
    ) -> None:
        self._deliver(channel, str(payload))

    async def _supervise(
        self, connection: asyncpg.Connection | None, listened: set[str]
    ) -> None:
        """Serve the connection until it is lost, then reconnect; until closed.

        ``listened``: the topics ``connection`` already listens to."""
        pause = 0.0
        while True:
            try:
                if connection is None:
                    await asyncio.sleep(pause)
                    connection = await self._connect()
                    listened = set()
                    await self._listen(connection, listened)
                    log.info("The notices' connection to PostgreSQL is back")
                    self._call_reconnected()
                await self._serve(connection, listened)
                log.warning("The notices' connection to PostgreSQL was lost")
                pause = 0.0
            except asyncio.CancelledError:
                if connection is not None:
                    await _close(connection)
                raise
            except _CONNECTION_ERRORS as exc:
                log.warning(
                    "The notices' connection to PostgreSQL failed (%s); retrying in "
                    "%.1f s",
                    exc or type(exc).__name__,
                    _next(pause),
                )
                pause = _next(pause)
            except Exception:
                # Anything else must not end the notices for good either.
                log.exception("The notices' connection to PostgreSQL broke")
                pause = _next(pause)
            self._settled.clear()
            if connection is not None:
                connection.terminate()
                connection = None

    async def _serve(self, connection: asyncpg.Connection, listened: set[str]) -> None:
        """Listen for topics subscribed from now on too; return when the
        connection closes. Raises what a failed ``LISTEN`` or check raises."""
        while True:
            await self._listen(connection, listened)
            if connection.is_closed():
                return
            try:
                await asyncio.wait_for(self._wake.wait(), CHECK_INTERVAL)
            except TimeoutError:
                await connection.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)

    async def _listen(self, connection: asyncpg.Connection, listened: set[str]) -> None:
        """``LISTEN`` to the topics not in ``listened`` yet, adding them to it."""
        while True:
            # Cleared first: a topic subscribed during a LISTEN sets it again.
            self._wake.clear()
            for topic in self._handlers.keys() - listened:
                await connection.add_listener(topic, self._notified)
                listened.add(topic)
            if self._handlers.keys() <= listened:
                self._settled.set()
                return


def _next(pause: float) -> float:
    return min(max(pause * 2, RECONNECT_FIRST_PAUSE), RECONNECT_LONGEST_PAUSE)


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=CHECK_TIMEOUT)
    except (*_CONNECTION_ERRORS, asyncio.CancelledError):
        connection.terminate()
