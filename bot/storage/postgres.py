"""Durable tasks and moderators' settings in PostgreSQL, through an asyncpg pool.

For operators who outgrow one machine: several bot processes can share one
database. The tables mirror the SQLite ones (``bot.storage.rows`` maps a task to a
row for both), with PostgreSQL's own types: ``jsonb`` for the request and results,
``timestamptz`` for moments, ``bytea`` for images.

The schema grows by appending SQL scripts to ``MIGRATIONS``; each applied version
is a row of ``schema_migrations``. Migrations run under a session advisory lock, so
replicas started together wait for the first one's migration instead of racing it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Self
from urllib.parse import urlsplit

import asyncpg

from bot.errors import ConfigError, StoreUnavailable
from bot.models import Platform
from bot.storage import rows
from bot.storage.base import Execute, Fetch, Queries, SqlTaskStore
from bot.storage.notices import PostgresNotices
from bot.storage.schema import check_known

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        -- Insertion order, to break ties between tasks created in the same instant.
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        state TEXT NOT NULL,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dialect TEXT NOT NULL,
        -- Which of the operator's providers took it ('' while not yet sent).
        provider TEXT NOT NULL DEFAULT '',
        provider_task_id TEXT,
        callback_token TEXT UNIQUE,
        progress INTEGER NOT NULL DEFAULT 0,
        request JSONB NOT NULL,
        chat JSONB NOT NULL,
        result JSONB,
        failure JSONB,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        deadline_at TIMESTAMPTZ,
        parent_task_id TEXT,
        taken_down_by TEXT,
        taken_down_at TIMESTAMPTZ
    );
    CREATE INDEX tasks_by_provider_task_id ON tasks (provider_task_id);
    CREATE INDEX tasks_by_state ON tasks (state);
    CREATE INDEX tasks_by_user ON tasks (platform, workspace_id, user_id, state);
    CREATE INDEX tasks_by_created_at ON tasks (created_at, seq);
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        data BYTEA NOT NULL
    );
    CREATE TABLE settings (
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,  -- '' for the whole workspace
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (platform, workspace_id, channel_id, key)
    );
    -- The usage ledger: one row per video that counts against quotas and budgets,
    -- until it is refunded.
    CREATE TABLE usage (
        task_id TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        cost_micros BIGINT NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL,
        refunded_at TIMESTAMPTZ,
        refund_kind TEXT
    );
    CREATE INDEX usage_by_server ON usage (platform, workspace_id, created_at);
    CREATE INDEX usage_by_user ON usage (platform, workspace_id, user_id, created_at);
    -- One-time claims (claim_once): redelivered chat requests act once.
    CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        expires_at DOUBLE PRECISION NOT NULL  -- seconds since the epoch
    );
    CREATE INDEX claims_by_expiry ON claims (expires_at);
    -- The audit log: finished videos, refusals, settings changes, takedowns.
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        platform TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        task_id TEXT,
        entry JSONB NOT NULL
    );
    CREATE INDEX audit_by_workspace ON audit (platform, workspace_id, at);
    CREATE INDEX audit_by_at ON audit (at);
    """,
    # Replicas: which one carries a task (its lease, on the task's row, so a fenced
    # save and a takeover meet on one row version), and which replicas are alive.
    """
    ALTER TABLE tasks ADD COLUMN lease_holder TEXT;
    ALTER TABLE tasks ADD COLUMN lease_expires DOUBLE PRECISION;  -- epoch seconds
    CREATE INDEX tasks_by_lease_holder ON tasks (lease_holder)
        WHERE state IN ('received', 'submitted', 'running', 'succeeded', 'failed');
    CREATE TABLE replicas (
        holder TEXT PRIMARY KEY,
        seen_at DOUBLE PRECISION NOT NULL  -- epoch seconds
    );
    """,
)

# The advisory lock every replica takes around its migrations (one 64-bit key per
# database; any fixed number no other application on the database uses).
MIGRATION_LOCK = zlib.crc32(b"sorabot schema migrations")
# The usage ledger's locks, one per server: (this class, hashtext of the server),
# the two-key space, apart from the one-key migration lock.
USAGE_LOCK = zlib.crc32(b"sorabot usage ledger") & 0x7FFFFFFF
# ``exclusive``'s locks: (this class, hashtext of the name), like the ledger's.
EXCLUSIVE_LOCK = zlib.crc32(b"sorabot exclusive") & 0x7FFFFFFF
# Statements are short, but the tracker runs up to 64 steps at once and a submit
# waits behind them for a connection: 10 made 2,000 submissions under load take
# four times as long as 20 (bench/track.py --database).
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 20
# /readyz must answer promptly even while the database hangs.
PING_TIMEOUT = 5.0


class PostgresTaskStore(SqlTaskStore):
    """The ``TaskStore`` on a PostgreSQL database.

    Use ``async with PostgresTaskStore.open(url) as store`` or ``await
    PostgresTaskStore.connect(url)`` followed by ``await store.close()``.
    """

    # Replicas leasing at once each lock the rows they pick, and pass over the
    # rows the others locked, so they get different tasks without waiting.
    SQL = Queries.spelt(
        lambda n: f"${n}", tie="seq", skip_locked=" FOR UPDATE SKIP LOCKED"
    )

    def __init__(self, pool: asyncpg.Pool, notices: PostgresNotices) -> None:
        super().__init__(notices)
        self._pool = pool

    @classmethod
    async def connect(
        cls, target: str, migrations: Sequence[str] | None = None
    ) -> Self:
        """Open a pool on the database at URL ``target`` and migrate it."""
        try:
            pool = await asyncpg.create_pool(
                target,
                min_size=POOL_MIN_SIZE,
                max_size=POOL_MAX_SIZE,
                reset=_keep_session,
            )
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            ValueError,
        ) as exc:
            # The URL holds the password: name only where it points.
            raise ConfigError(
                f"DATABASE_URL: cannot open the PostgreSQL database {where(target)} "
                f"({exc or type(exc).__name__})"
            ) from None
        try:
            await _migrate(pool, MIGRATIONS if migrations is None else migrations)
            notices = PostgresNotices(pool, target)
            store = cls(pool, notices)
            # After the store subscribed: it listens for settings changes from
            # its first moment.
            await notices.start()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self._notices.close()
        await self._pool.close()

    async def ping(self) -> None:
        """A query on a pooled connection, within a few seconds."""
        try:
            await self._pool.fetchval("SELECT 1", timeout=PING_TIMEOUT)
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
        ) as exc:  # TimeoutError is an OSError
            raise StoreUnavailable(
                f"the PostgreSQL database does not answer ({exc or type(exc).__name__})"
            ) from None

    async def schema_version(self) -> int:
        return int(await self._pool.fetchval(_VERSION))

    async def _fetch(self, sql: str, params: Sequence[Any]) -> Sequence[rows.Row]:
        return await self._pool.fetch(sql, *params)

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        return _count(await self._pool.execute(sql, *params))

    async def _execute_apart(self, sql: str, params: Sequence[Any]) -> int:
        # The pool already gives each call a connection of its own.
        return await self._execute(sql, params)

    @asynccontextmanager
    async def _reservation(
        self, platform: Platform, workspace_id: str
    ) -> AsyncIterator[tuple[Fetch, Execute]]:
        # A lock per server, held until the transaction ends: replicas reserving
        # for the same server count and record one after the other.
        async with self._pool.acquire() as db, db.transaction():
            await db.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                USAGE_LOCK,
                f"{platform.value}:{workspace_id}",
            )

            async def fetch(sql: str, params: Sequence[Any]) -> Sequence[rows.Row]:
                return await db.fetch(sql, *params)

            async def execute(sql: str, params: Sequence[Any]) -> int:
                return _count(await db.execute(sql, *params))

            yield fetch, execute

    @staticmethod
    def _time(moment: datetime) -> object:
        # asyncpg sends a timezone-aware datetime as timestamptz unchanged.
        return moment

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """A session advisory lock, on a pool connection held until the end."""
        key = (EXCLUSIVE_LOCK, name)
        async with self._pool.acquire() as db:
            try:
                await db.execute("SELECT pg_advisory_lock($1, hashtext($2))", *key)
            except BaseException:
                # Cancelled while waiting: the server may have granted it anyway.
                await _unlock(db, key)
                raise
            try:
                yield
            finally:
                await _unlock(db, key)


async def _unlock(
    db: asyncpg.pool.PoolConnectionProxy[Any], key: tuple[int, str]
) -> None:
    """Release ``exclusive``'s lock before the connection goes back to the pool,
    which keeps sessions as they are (``_keep_session``).

    The statement first waits for a cancelled lock statement to be settled (asyncpg
    does), so it also undoes a lock granted just as its waiter gave up; a lock not
    held is no error. If it cannot run, the session is closed instead: a closed
    session holds no lock, so the pool never hands out a locked connection.
    """
    try:
        await db.execute("SELECT pg_advisory_unlock($1, hashtext($2))", *key)
    except BaseException:
        db.terminate()
        raise


def _count(status: str) -> int:
    """Rows changed, from a command status: "UPDATE 1", "DELETE 0", "INSERT 0 1"."""
    return int(status.rsplit(" ", 1)[-1])


def where(url: str) -> str:
    """The database a URL names, without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable DATABASE_URL)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{port}{parts.path or '/'}"


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is.

    asyncpg's default reset runs a query (RESET ALL, UNLISTEN *, advisory unlocks)
    at every release, a second round trip for each of the store's one-statement
    calls. The store changes no session state: its session advisory locks (around
    the migrations, and ``exclusive``'s) are released before the connection goes
    back, or the connection is closed.
    """


_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"


async def _migrate(pool: asyncpg.Pool, migrations: Sequence[str]) -> None:
    """Apply the scripts this database has not seen yet, each in one transaction.

    The advisory lock is held by this connection's session across every script: a
    second replica blocks on it, then finds the schema current and does nothing.
    """
    async with pool.acquire() as db:
        await db.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            version = int(await db.fetchval(_VERSION))
            check_known(version, len(migrations))
            for number, script in enumerate(migrations[version:], start=version + 1):
                async with db.transaction():
                    await db.execute(script)
                    await db.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", number
                    )
        finally:
            await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
