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
from typing import Any, Self
from urllib.parse import urlsplit

import asyncpg

from bot.errors import ConfigError, TaskNotFound
from bot.models import Platform, Task
from bot.ports import Scope
from bot.storage import rows
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
        parent_task_id TEXT
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
    """,
)

# The advisory lock every replica takes around its migrations (one 64-bit key per
# database; any fixed number no other application on the database uses).
MIGRATION_LOCK = zlib.crc32(b"sorabot schema migrations")
# A handful of connections serve one replica: statements are short, and the tracker
# bounds concurrent steps anyway.
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10


class PostgresTaskStore:
    """The ``TaskStore`` on a PostgreSQL database.

    Use ``async with PostgresTaskStore.open(url) as store`` or ``await
    PostgresTaskStore.connect(url)`` followed by ``await store.close()``.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Every /sora reads up to three settings: a copy in memory (a few entries per
        # server) saves those round trips. It is right while this store is the only
        # writer; several replicas on one database will need to invalidate each
        # other's copies when a moderator changes a setting (LISTEN/NOTIFY).
        self._settings: dict[tuple[str, str, str, str], str | None] = {}

    @classmethod
    async def connect(cls, url: str, migrations: Sequence[str] = MIGRATIONS) -> Self:
        """Open a pool on the database at ``url`` and migrate it."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE
            )
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            ValueError,
        ) as exc:
            # The URL holds the password: name only where it points.
            raise ConfigError(
                f"DATABASE_URL: cannot open the PostgreSQL database {where(url)} "
                f"({exc or type(exc).__name__})"
            ) from None
        try:
            await _migrate(pool, migrations)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, migrations: Sequence[str] = MIGRATIONS
    ) -> AsyncIterator[Self]:
        store = await cls.connect(url, migrations)
        try:
            yield store
        finally:
            await store.close()

    async def close(self) -> None:
        await self._pool.close()

    async def schema_version(self) -> int:
        return int(await self._pool.fetchval(_VERSION))

    # -- tasks ---------------------------------------------------------------------

    async def add(self, task: Task) -> None:
        image = rows.image_of(task)
        async with self._pool.acquire() as db, db.transaction():
            if image is not None:
                await db.execute(
                    "INSERT INTO images (sha256, data) VALUES ($1, $2) "
                    "ON CONFLICT (sha256) DO NOTHING",
                    *image,
                )
            await db.execute(_INSERT_TASK, *rows.add_values(task, _as_is))

    async def save(self, task: Task) -> None:
        """Write what can change; the request itself is fixed once added."""
        status = await self._pool.execute(_SAVE_TASK, *rows.save_values(task, _as_is))
        if status == "UPDATE 0":
            raise TaskNotFound(task.id)

    async def get(self, task_id: str) -> Task:
        task = await self._one("WHERE id = $1", task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return task

    async def unfinished(self) -> list[Task]:
        return await self._many(
            "WHERE state = ANY($1::text[]) ORDER BY created_at, seq",
            list(rows.UNFINISHED),
        )

    async def recent(self, limit: int = 20) -> list[Task]:
        return await self._many("ORDER BY created_at DESC, seq DESC LIMIT $1", limit)

    async def in_flight_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        return await self._many(
            "WHERE platform = $1 AND workspace_id = $2 AND user_id = $3 "
            "AND state = ANY($4::text[]) ORDER BY created_at, seq",
            platform.value,
            workspace_id,
            user_id,
            list(rows.IN_FLIGHT),
        )

    async def by_callback_token(self, token: str) -> Task | None:
        return await self._one("WHERE callback_token = $1", token)

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None:
        return await self._one("WHERE provider_task_id = $1", provider_task_id)

    async def _one(self, where: str, *params: Any) -> Task | None:
        tasks = await self._many(f"{where} LIMIT 1", *params)
        return tasks[0] if tasks else None

    async def _many(self, where: str, *params: Any) -> list[Task]:
        sql = f"SELECT {rows.SELECT_COLUMNS} FROM tasks {where}"  # noqa: S608
        found = await self._pool.fetch(sql, *params)
        return [await rows.load_task(row, self._image) for row in found]

    async def _image(self, sha256: str) -> bytes | None:
        data = await self._pool.fetchval(
            "SELECT data FROM images WHERE sha256 = $1", sha256
        )
        return None if data is None else bytes(data)

    # -- settings ------------------------------------------------------------------

    async def get_setting(self, scope: Scope, key: str) -> str | None:
        where = rows.setting_key(scope, key)
        if where in self._settings:
            return self._settings[where]
        value = await self._pool.fetchval(
            "SELECT value FROM settings WHERE platform = $1 AND workspace_id = $2 "
            "AND channel_id = $3 AND key = $4",
            *where,
        )
        self._settings[where] = value
        return None if value is None else str(value)

    async def set_setting(self, scope: Scope, key: str, value: str | None) -> None:
        where = rows.setting_key(scope, key)
        if value is None:
            await self._pool.execute(
                "DELETE FROM settings WHERE platform = $1 AND workspace_id = $2 "
                "AND channel_id = $3 AND key = $4",
                *where,
            )
        else:
            await self._pool.execute(
                "INSERT INTO settings (platform, workspace_id, channel_id, key, value) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, workspace_id, "
                "channel_id, key) DO UPDATE SET value = excluded.value",
                *where,
                value,
            )
        self._settings[where] = value


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


def _as_is(moment: Any) -> Any:
    """asyncpg sends a timezone-aware ``datetime`` as ``timestamptz`` unchanged."""
    return moment


_INSERT_TASK = rows.insert_sql(lambda n: f"${n}")
_SAVE_TASK = rows.save_sql(lambda n: f"${n}")
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
