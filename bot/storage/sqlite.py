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

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.errors import TaskNotFound
from bot.models import Platform, Task
from bot.ports import Scope
from bot.storage import rows
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
)


class SqliteTaskStore:
    """The ``TaskStore`` on one SQLite file.

    Use ``async with SqliteTaskStore.open(path) as store`` or ``await
    SqliteTaskStore.connect(path)`` followed by ``await store.close()``.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        # Every /sora reads up to three settings, and only this store writes them:
        # a copy in memory (a few entries per server) saves those round trips.
        self._settings: dict[tuple[str, str, str, str], str | None] = {}

    @classmethod
    async def connect(
        cls, path: Path | str, migrations: Sequence[str] = MIGRATIONS
    ) -> Self:
        """Open (creating if needed) and migrate the database at ``path``."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement is its own transaction, so a write is one
        # round trip to aiosqlite's thread instead of two (execute, then commit).
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await _migrate(db, migrations)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: Path | str, migrations: Sequence[str] = MIGRATIONS
    ) -> AsyncIterator[Self]:
        store = await cls.connect(path, migrations)
        try:
            yield store
        finally:
            await store.close()

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        found = await self._db.execute_fetchall("SELECT version FROM schema_version")
        return next((int(row[0]) for row in found), 0)

    # -- tasks ---------------------------------------------------------------------

    async def add(self, task: Task) -> None:
        image = rows.image_of(task)
        if image is not None:
            await self._db.execute(
                "INSERT OR IGNORE INTO images (sha256, data) VALUES (?, ?)", image
            )
        await self._db.execute(_INSERT_TASK, rows.add_values(task, _iso))

    async def save(self, task: Task) -> None:
        """Write what can change; the request itself is fixed once added."""
        cursor = await self._db.execute(_SAVE_TASK, rows.save_values(task, _iso))
        if cursor.rowcount == 0:
            raise TaskNotFound(task.id)

    async def get(self, task_id: str) -> Task:
        task = await self._one("WHERE id = ?", (task_id,))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    async def unfinished(self) -> list[Task]:
        marks = ", ".join("?" * len(rows.UNFINISHED))
        return await self._many(
            f"WHERE state IN ({marks}) ORDER BY created_at",
            rows.UNFINISHED,
        )

    async def recent(self, limit: int = 20) -> list[Task]:
        return await self._many(
            "ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        )

    async def in_flight_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        marks = ", ".join("?" * len(rows.IN_FLIGHT))
        return await self._many(
            "WHERE platform = ? AND workspace_id = ? AND user_id = ? "
            f"AND state IN ({marks}) ORDER BY created_at",
            (platform.value, workspace_id, user_id, *rows.IN_FLIGHT),
        )

    async def by_callback_token(self, token: str) -> Task | None:
        return await self._one("WHERE callback_token = ?", (token,))

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None:
        return await self._one("WHERE provider_task_id = ?", (provider_task_id,))

    async def _one(self, where: str, params: Sequence[Any]) -> Task | None:
        tasks = await self._many(f"{where} LIMIT 1", params)
        return tasks[0] if tasks else None

    async def _many(self, where: str, params: Sequence[Any]) -> list[Task]:
        sql = f"SELECT {rows.SELECT_COLUMNS} FROM tasks {where}"  # noqa: S608
        found = await self._db.execute_fetchall(sql, params)
        return [await rows.load_task(row, self._image) for row in found]

    async def _image(self, sha256: str) -> bytes | None:
        found = await self._db.execute_fetchall(
            "SELECT data FROM images WHERE sha256 = ?", (sha256,)
        )
        return next((bytes(row[0]) for row in found), None)

    # -- settings ------------------------------------------------------------------

    async def get_setting(self, scope: Scope, key: str) -> str | None:
        where = rows.setting_key(scope, key)
        if where in self._settings:
            return self._settings[where]
        found = await self._db.execute_fetchall(
            "SELECT value FROM settings WHERE platform = ? AND workspace_id = ? "
            "AND channel_id = ? AND key = ?",
            where,
        )
        value = next((str(row[0]) for row in found), None)
        self._settings[where] = value
        return value

    async def set_setting(self, scope: Scope, key: str, value: str | None) -> None:
        where = rows.setting_key(scope, key)
        if value is None:
            await self._db.execute(
                "DELETE FROM settings WHERE platform = ? AND workspace_id = ? "
                "AND channel_id = ? AND key = ?",
                where,
            )
        else:
            await self._db.execute(
                "INSERT INTO settings (platform, workspace_id, channel_id, key, value) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace_id, "
                "channel_id, key) DO UPDATE SET value = excluded.value",
                (*where, value),
            )
        self._settings[where] = value


def _iso(moment: datetime) -> str:
    return moment.isoformat()


_INSERT_TASK = rows.insert_sql(lambda _: "?")
_SAVE_TASK = rows.save_sql(lambda _: "?")


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
