"""Durable tasks and moderators' settings in one SQLite file, through aiosqlite.

One long-lived connection (aiosqlite runs one worker thread per connection, so
opening one per call would cost a thread each time), WAL so readers never wait for
the writer, and ``synchronous=NORMAL``: in WAL mode a power cut can lose the last
commits but never corrupts the file, and the tracker redoes anything unsaved.

The schema grows by appending SQL scripts to ``MIGRATIONS``; ``schema_version``
records how many have run, so an old database is brought forward on open.
Reference images are stored once per content hash so retry, remix and a resumed
submission still have the bytes without copying them into every task row.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.errors import StoreUnavailable
from bot.models import Platform
from bot.storage import rows
from bot.storage.base import Execute, Fetch, Queries, SqlTaskStore
from bot.storage.notices import LocalNotices
from bot.storage.schema import check_known

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dialect TEXT NOT NULL,
        provider_task_id TEXT,
        callback_token TEXT UNIQUE,
        progress INTEGER NOT NULL DEFAULT 0,
        request TEXT NOT NULL,
        chat TEXT NOT NULL,
        result TEXT,
        failure TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        deadline_at TEXT,
        parent_task_id TEXT
    );
    CREATE INDEX tasks_by_provider_task_id ON tasks (provider_task_id);
    CREATE INDEX tasks_by_state ON tasks (state);
    CREATE INDEX tasks_by_user ON tasks (platform, workspace_id, user_id, state);
    CREATE INDEX tasks_by_created_at ON tasks (created_at);
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE settings (
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,  -- '' for the whole workspace
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (platform, workspace_id, channel_id, key)
    );
    """,
    # The usage ledger: one row per video that counts against quotas and budgets,
    # until it is refunded. Times are UTC ISO strings with microseconds, so they
    # compare in order as text.
    """
    CREATE TABLE usage (
        task_id TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        cost_micros INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        refunded_at TEXT,
        refund_kind TEXT
    );
    CREATE INDEX usage_by_server ON usage (platform, workspace_id, created_at);
    CREATE INDEX usage_by_user ON usage (platform, workspace_id, user_id, created_at);
    """,
    # Several providers: which one a task was sent to. Tasks from before had the
    # one provider, which is now named "default".
    """
    ALTER TABLE tasks ADD COLUMN provider TEXT NOT NULL DEFAULT '';
    UPDATE tasks SET provider = 'default' WHERE provider_task_id IS NOT NULL;
    """,
    # One-time claims (claim_once): redelivered chat requests act once.
    """
    CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        expires_at REAL NOT NULL  -- seconds since the epoch, shared by replicas
    );
    CREATE INDEX claims_by_expiry ON claims (expires_at);
    """,
    # The bot's own queue (state 'queued'), takedowns and the audit log.
    """
    ALTER TABLE tasks ADD COLUMN taken_down_by TEXT;
    ALTER TABLE tasks ADD COLUMN taken_down_at TEXT;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        task_id TEXT,
        entry TEXT NOT NULL
    );
    CREATE INDEX audit_by_workspace ON audit (platform, workspace_id, at);
    CREATE INDEX audit_by_at ON audit (at);
    """,
    # Replicas: which one carries a task (a lease on its row), and which are
    # alive. The same as PostgreSQL's, so the one store runs on both.
    """
    ALTER TABLE tasks ADD COLUMN lease_holder TEXT;
    ALTER TABLE tasks ADD COLUMN lease_expires REAL;  -- seconds since the epoch
    CREATE INDEX tasks_by_lease_holder ON tasks (lease_holder)
        WHERE state IN ('received', 'submitted', 'running', 'succeeded', 'failed');
    CREATE TABLE replicas (
        holder TEXT PRIMARY KEY,
        seen_at REAL NOT NULL  -- seconds since the epoch
    );
    """,
)


class SqliteTaskStore(SqlTaskStore):
    """The ``TaskStore`` on one SQLite file.

    Use ``async with SqliteTaskStore.open(path) as store`` or ``await
    SqliteTaskStore.connect(path)`` followed by ``await store.close()``.
    """

    # Numbered (?1, ?2): a statement may use one value twice, as on PostgreSQL.
    SQL = Queries.spelt(lambda n: f"?{n}", tie="rowid")

    def __init__(
        self, db: aiosqlite.Connection, claims: aiosqlite.Connection, path: Path
    ) -> None:
        # One process: notices stay in it.
        super().__init__(LocalNotices())
        self._db = db
        # Claims are made before a chat request is acknowledged: a connection (and
        # aiosqlite thread) of their own keeps them from queueing behind the
        # tracker's writes during a burst.
        self._claims = claims
        # The connection is shared: one explicit transaction at a time.
        self._transaction = asyncio.Lock()
        self._path = path
        # Which file the connection has open: a file moved or replaced under a
        # running bot keeps answering through the old one, and writes that
        # nobody will ever read again must not pass as "ready".
        self._identity = _identity(os.stat(path))
        # ``exclusive``: one bot process per file, so a lock in memory per name
        # (a few names per server, kept for the process's life).
        self._exclusive: dict[str, asyncio.Lock] = {}

    @classmethod
    async def connect(
        cls, target: Path | str, migrations: Sequence[str] | None = None
    ) -> Self:
        """Open (creating if needed) and migrate the database file ``target``."""
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        db = await _connection(target)
        try:
            await _migrate(db, MIGRATIONS if migrations is None else migrations)
            store = cls(db, await _connection(target), Path(target))
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._notices.close()
        await self._claims.close()
        await self._db.close()

    async def ping(self) -> None:
        """A query through the connection, then a read of the file at the path."""
        try:
            await self._db.execute_fetchall("SELECT version FROM schema_version")
            await asyncio.to_thread(self._check_file)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: connection closed
            raise StoreUnavailable(f"the database does not answer ({exc})") from None
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot read the database file {self._path} ({exc.strerror})"
            ) from None

    def _check_file(self) -> None:
        with self._path.open("rb") as file:
            file.read(16)
            same = _identity(os.fstat(file.fileno())) == self._identity
        if not same:
            raise StoreUnavailable(
                f"the database file {self._path} was replaced while the bot had it "
                "open; restart the bot"
            )

    async def schema_version(self) -> int:
        found = await self._db.execute_fetchall("SELECT version FROM schema_version")
        return next((int(row[0]) for row in found), 0)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> Sequence[rows.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    async def _execute_apart(self, sql: str, params: Sequence[Any]) -> int:
        cursor = await self._claims.execute(sql, params)
        return cursor.rowcount

    @asynccontextmanager
    async def _reservation(
        self, platform: Platform, workspace_id: str
    ) -> AsyncIterator[tuple[Fetch, Execute]]:
        # BEGIN IMMEDIATE takes SQLite's write lock before counting, so another
        # process on the same file (``sorabot generate`` next to ``sorabot run``)
        # waits instead of counting the same totals; the asyncio lock does the same
        # for this process, whose statements share the one connection.
        async with self._transaction:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._fetch, self._execute
            finally:
                # Never ROLLBACK: other coroutines' single statements may have run
                # inside this transaction, and each of them is complete; ours
                # either happened whole or not at all.
                await self._db.execute("COMMIT")

    @staticmethod
    def _time(moment: datetime) -> object:
        # Fixed-width UTC with microseconds, so text order is time order.
        return moment.astimezone(UTC).isoformat(timespec="microseconds")

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        async with self._exclusive.setdefault(name, asyncio.Lock()):
            yield


async def _connection(path: Path | str) -> aiosqlite.Connection:
    # Autocommit: every statement is its own transaction, so a write is one
    # round trip to aiosqlite's thread instead of two (execute, then commit).
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        await db.close()
        raise
    return db


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


async def _migrate(db: aiosqlite.Connection, migrations: Sequence[str]) -> None:
    """Apply the scripts this database has not seen yet, each in one transaction."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
    found = list(await db.execute_fetchall("SELECT version FROM schema_version"))
    if not found:
        await db.execute("INSERT INTO schema_version (version) VALUES (0)")
    version = int(found[0][0]) if found else 0
    check_known(version, len(migrations))
    for number, script in enumerate(migrations[version:], start=version + 1):
        try:
            await db.executescript(
                f"BEGIN;\n{script}\nUPDATE schema_version SET version = {number};\n"
                "COMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
