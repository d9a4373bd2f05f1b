"""Durable tasks and moderators' settings in one SQLite file, through aiosqlite.

One long-lived connection (aiosqlite runs one worker thread per connection, so
opening one per call would cost a thread each time; claims have a second one),
WAL so readers never wait for the writer, and ``synchronous=NORMAL``: in WAL mode
a power cut can lose the last commits but never corrupts the file, and the tracker
redoes anything unsaved.

The schema grows by appending SQL scripts to ``MIGRATIONS``; ``schema_version``
records how many have run, so an old database is brought forward on open.
Reference images are stored once per content hash so retry, remix and a resumed
submission still have the bytes without copying them into every task row.
``claims`` holds one-time keys (``claim_once``) with their expiry; the SQL is the
portable subset PostgreSQL speaks too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import aiosqlite

from bot.audit.entries import AuditEntry
from bot.errors import ConfigError, StoreUnavailable, TaskNotFound
from bot.models import (
    ChatRef,
    Failure,
    GenerationRequest,
    ImageInput,
    Platform,
    Progress,
    Task,
    TaskState,
    VideoResult,
)
from bot.ports import Scope, UsageClaim, UsageQuery, UsageTotals

_R = TypeVar("_R")

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
)

# Claims past their time are deleted by the first claim after this many seconds,
# so the table holds about one TTL's worth of keys without a job of its own.
CLAIM_PURGE_INTERVAL = 60.0

_UNFINISHED = tuple(s.value for s in TaskState if s.in_flight or s.awaiting_delivery)
_IN_FLIGHT = tuple(s.value for s in TaskState if s.in_flight)

# Running, as far as a member's or a server's running limit is concerned: from
# admission until the outcome has been delivered.
_RUNNING = _UNFINISHED
_QUEUED = TaskState.QUEUED.value

_COLUMNS = (
    "id, state, dialect, provider, provider_task_id, callback_token, progress, "
    "request, chat, result, failure, created_at, updated_at, deadline_at, "
    "parent_task_id, taken_down_by, taken_down_at"
)


def _dump(model: Any) -> str | None:
    return None if model is None else str(model.model_dump_json())


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _request_json(request: GenerationRequest) -> str:
    """The request without image bytes; the image is referenced by its hash."""
    data = request.model_dump(mode="json", exclude={"image"})
    if request.image is not None:
        image = request.image.model_dump(mode="json", exclude={"data"})
        data["image"] = {**image, "sha256": request.image.sha256}
    return json.dumps(data, separators=(",", ":"))


class SqliteTaskStore:
    """The ``TaskStore`` on one SQLite file.

    Use ``async with SqliteTaskStore.open(path) as store`` or ``await
    SqliteTaskStore.connect(path)`` followed by ``await store.close()``.
    """

    def __init__(
        self, db: aiosqlite.Connection, claims: aiosqlite.Connection, path: Path
    ) -> None:
        self._db = db
        # Claims are made before a chat request is acknowledged: a connection (and
        # aiosqlite thread) of their own keeps them from queueing behind the
        # tracker's writes during a burst.
        self._claims = claims
        self._path = path
        # Which file the connection has open: a file moved or replaced under a
        # running bot keeps answering through the old one, and writes that
        # nobody will ever read again must not pass as "ready".
        self._identity = _identity(os.stat(path))
        # Every /sora reads up to three settings, and only this store writes them:
        # a copy in memory (a few entries per server) saves those round trips.
        self._settings: dict[tuple[str, str, str, str], str | None] = {}
        # The connection is shared: one explicit transaction at a time.
        self._transaction = asyncio.Lock()
        self._next_claim_purge = 0.0

    @classmethod
    async def connect(
        cls, path: Path | str, migrations: Sequence[str] = MIGRATIONS
    ) -> Self:
        """Open (creating if needed) and migrate the database at ``path``."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await _connection(path)
        try:
            await _migrate(db, migrations)
            store = cls(db, await _connection(path), Path(path))
        except BaseException:
            await db.close()
            raise
        return store

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
        rows = await self._db.execute_fetchall("SELECT version FROM schema_version")
        return next((int(row[0]) for row in rows), 0)

    # -- tasks ---------------------------------------------------------------------

    async def add(self, task: Task) -> None:
        request = task.request
        if request.image is not None:
            await self._db.execute(
                "INSERT OR IGNORE INTO images (sha256, data) VALUES (?, ?)",
                (request.image.sha256, request.image.data),
            )
        await self._db.execute(
            "INSERT INTO tasks (id, state, platform, workspace_id, channel_id, "
            "user_id, dialect, provider, provider_task_id, callback_token, progress, "
            "request, chat, result, failure, created_at, updated_at, deadline_at, "
            "parent_task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)",
            (
                task.id,
                task.state.value,
                request.chat.platform.value,
                request.chat.workspace_id,
                request.chat.channel_id,
                request.requester.user_id,
                task.dialect,
                task.provider,
                task.provider_task_id,
                task.callback_token,
                task.progress.percent,
                _request_json(request),
                _dump(task.chat),
                _dump(task.result),
                _dump(task.failure),
                _iso(task.created_at),
                _iso(task.updated_at),
                _iso(task.deadline_at),
                task.parent_task_id,
            ),
        )

    async def save(self, task: Task) -> None:
        """Write what can change; the request itself is fixed once added."""
        cursor = await self._db.execute(
            "UPDATE tasks SET state = ?, dialect = ?, provider = ?, "
            "provider_task_id = ?, callback_token = ?, progress = ?, chat = ?, "
            "result = ?, failure = ?, updated_at = ?, deadline_at = ?, "
            "taken_down_by = ?, taken_down_at = ? WHERE id = ?",
            (
                task.state.value,
                task.dialect,
                task.provider,
                task.provider_task_id,
                task.callback_token,
                task.progress.percent,
                _dump(task.chat),
                _dump(task.result),
                _dump(task.failure),
                _iso(task.updated_at),
                _iso(task.deadline_at),
                task.taken_down_by,
                _iso(task.taken_down_at),
                task.id,
            ),
        )
        if cursor.rowcount == 0:
            raise TaskNotFound(task.id)

    async def get(self, task_id: str) -> Task:
        task = await self._one("WHERE id = ?", (task_id,))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    async def unfinished(self) -> list[Task]:
        marks = ", ".join("?" * len(_UNFINISHED))
        return await self._many(
            f"WHERE state IN ({marks}) ORDER BY created_at",
            _UNFINISHED,
        )

    async def recent(self, limit: int = 20) -> list[Task]:
        return await self._many(
            "ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        )

    async def in_flight_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        marks = ", ".join("?" * len(_IN_FLIGHT))
        return await self._many(
            "WHERE platform = ? AND workspace_id = ? AND user_id = ? "
            f"AND state IN ({marks}) ORDER BY created_at",
            (platform.value, workspace_id, user_id, *_IN_FLIGHT),
        )

    async def recent_for_user(
        self, platform: Platform, workspace_id: str, user_id: str, limit: int = 10
    ) -> list[Task]:
        return await self._many(
            "WHERE platform = ? AND workspace_id = ? AND user_id = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (platform.value, workspace_id, user_id, limit),
        )

    async def queued(self, platform: Platform, workspace_id: str) -> list[Task]:
        """The server's waiting tasks, oldest first (the order they were asked)."""
        return await self._many(
            "WHERE platform = ? AND workspace_id = ? AND state = ? "
            "ORDER BY created_at, rowid",
            (platform.value, workspace_id, _QUEUED),
        )

    async def queued_workspaces(self) -> list[tuple[Platform, str]]:
        rows = await self._db.execute_fetchall(
            "SELECT DISTINCT platform, workspace_id FROM tasks WHERE state = ?",
            (_QUEUED,),
        )
        return [(Platform(row[0]), str(row[1])) for row in rows]

    async def running_counts(
        self, platform: Platform, workspace_id: str
    ) -> dict[str, int]:
        """Running tasks per member of one server: admitted, not yet delivered."""
        marks = ", ".join("?" * len(_RUNNING))
        sql = (
            "SELECT user_id, COUNT(*) FROM tasks WHERE platform = ? AND "  # noqa: S608
            f"workspace_id = ? AND state IN ({marks}) GROUP BY user_id"
        )
        rows = await self._db.execute_fetchall(
            sql, (platform.value, workspace_id, *_RUNNING)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def by_callback_token(self, token: str) -> Task | None:
        return await self._one("WHERE callback_token = ?", (token,))

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None:
        return await self._one("WHERE provider_task_id = ?", (provider_task_id,))

    async def _one(self, where: str, params: Sequence[Any]) -> Task | None:
        tasks = await self._many(f"{where} LIMIT 1", params)
        return tasks[0] if tasks else None

    async def _many(self, where: str, params: Sequence[Any]) -> list[Task]:
        sql = f"SELECT {_COLUMNS} FROM tasks {where}"  # noqa: S608
        rows = await self._db.execute_fetchall(sql, params)
        return [await self._task(row) for row in rows]

    async def _task(self, row: aiosqlite.Row) -> Task:
        request = json.loads(row["request"])
        image = request.pop("image", None)
        if image is not None:
            request["image"] = await self._image(image)
        return Task(
            id=row["id"],
            request=GenerationRequest.model_validate(request),
            chat=ChatRef.model_validate_json(row["chat"]),
            state=TaskState(row["state"]),
            dialect=row["dialect"],
            provider=row["provider"],
            provider_task_id=row["provider_task_id"],
            progress=Progress(percent=row["progress"]),
            result=_load(VideoResult, row["result"]),
            failure=_load(Failure, row["failure"]),
            callback_token=row["callback_token"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            deadline_at=_parse_time(row["deadline_at"]),
            parent_task_id=row["parent_task_id"],
            taken_down_by=row["taken_down_by"],
            taken_down_at=_parse_time(row["taken_down_at"]),
        )

    async def _image(self, meta: dict[str, Any]) -> ImageInput:
        sha256 = meta.pop("sha256")
        rows = await self._db.execute_fetchall(
            "SELECT data FROM images WHERE sha256 = ?", (sha256,)
        )
        for row in rows:
            return ImageInput(**meta, data=bytes(row[0]))
        raise ConfigError(f"the database lost reference image {sha256[:12]}")

    # -- one-time claims ---------------------------------------------------------

    async def claim_once(self, key: str, ttl_seconds: float) -> bool:
        now = time.time()
        if now >= self._next_claim_purge:
            self._next_claim_purge = now + CLAIM_PURGE_INTERVAL
            await self._claims.execute(
                "DELETE FROM claims WHERE expires_at <= ?", (now,)
            )
        # One statement, so two processes racing for a key cannot both win: a new
        # key is inserted, an expired one taken over, a live one left alone (no row
        # changed, rowcount 0).
        cursor = await self._claims.execute(
            "INSERT INTO claims (key, expires_at) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE claims.expires_at <= ?",
            (key, now + ttl_seconds, now),
        )
        return cursor.rowcount == 1

    # -- audit log -----------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append ``entry``; returns it with its id."""
        cursor = await self._db.execute(
            "INSERT INTO audit (at, platform, workspace_id, kind, task_id, entry) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                _iso(entry.at),
                entry.platform.value,
                entry.workspace_id,
                entry.kind.value,
                entry.task_id,
                entry.model_dump_json(exclude={"id"}),
            ),
        )
        return entry.model_copy(update={"id": cursor.lastrowid})

    async def audit_entries(
        self,
        *,
        workspace_id: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """The audit log, oldest first, optionally of one server and from a time."""
        where, params = ["1 = 1"], []
        if workspace_id is not None:
            where.append("workspace_id = ?")
            params.append(workspace_id)
        if since is not None:
            where.append("at >= ?")
            params.append(since.isoformat())
        rows = await self._db.execute_fetchall(
            f"SELECT id, entry FROM audit WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY at, id",
            params,
        )
        return [
            AuditEntry.model_validate_json(row["entry"]).model_copy(
                update={"id": row["id"]}
            )
            for row in rows
        ]

    # -- settings ------------------------------------------------------------------

    async def get_setting(self, scope: Scope, key: str) -> str | None:
        where = _setting_row(scope, key)
        if where in self._settings:
            return self._settings[where]
        rows = await self._db.execute_fetchall(
            "SELECT value FROM settings WHERE platform = ? AND workspace_id = ? "
            "AND channel_id = ? AND key = ?",
            where,
        )
        value = next((str(row[0]) for row in rows), None)
        self._settings[where] = value
        return value

    async def set_setting(self, scope: Scope, key: str, value: str | None) -> None:
        where = _setting_row(scope, key)
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

    # -- usage ledger --------------------------------------------------------------

    async def reserve_usage(
        self,
        claim: UsageClaim,
        query: UsageQuery,
        decide: Callable[[UsageTotals], _R | None],
    ) -> _R | None:
        # BEGIN IMMEDIATE takes SQLite's write lock before counting, so another
        # process on the same file (``sorabot generate`` next to ``sorabot run``)
        # waits instead of counting the same totals; the asyncio lock does the same
        # for this process, whose statements share the one connection.
        async with self._transaction:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                refusal = decide(await self._totals(query))
                if refusal is None:
                    await self._db.execute(
                        "INSERT INTO usage (task_id, platform, workspace_id, "
                        "user_id, cost_micros, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            claim.task_id,
                            claim.platform.value,
                            claim.workspace_id,
                            claim.user_id,
                            claim.cost_micros,
                            _utc_text(claim.at),
                        ),
                    )
            finally:
                # Never ROLLBACK: other coroutines' single statements may have run
                # inside this transaction, and each of them is complete; ours either
                # happened whole or not at all.
                await self._db.execute("COMMIT")
        return refusal

    async def usage_totals(self, query: UsageQuery) -> UsageTotals:
        return await self._totals(query)

    async def refund_usage(self, task_id: str, kind: str, at: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE usage SET refunded_at = ?, refund_kind = ? "
            "WHERE task_id = ? AND refunded_at IS NULL",
            (_utc_text(at), kind, task_id),
        )
        return bool(cursor.rowcount)

    async def _totals(self, query: UsageQuery) -> UsageTotals:
        day, month = _utc_text(query.day_start), _utc_text(query.month_start)
        rows = await self._db.execute_fetchall(
            "SELECT "
            "COUNT(CASE WHEN user_id = ? AND created_at >= ? THEN 1 END), "
            "COUNT(CASE WHEN created_at >= ? THEN 1 END), "
            "COALESCE(SUM(CASE WHEN created_at >= ? THEN cost_micros END), 0), "
            "COALESCE(SUM(cost_micros), 0) "
            "FROM usage WHERE platform = ? AND workspace_id = ? "
            "AND created_at >= ? AND refunded_at IS NULL",
            (
                query.user_id,
                day,
                day,
                day,
                query.platform.value,
                query.workspace_id,
                month,  # a day never starts before its month
            ),
        )
        user_day, server_day, day_micros, month_micros = next(iter(rows))
        return UsageTotals(
            user_day_videos=int(user_day),
            server_day_videos=int(server_day),
            server_day_micros=int(day_micros),
            server_month_micros=int(month_micros),
        )


def _utc_text(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _setting_row(scope: Scope, key: str) -> tuple[str, str, str, str]:
    """The settings table's primary key; ``''`` stands for the whole workspace."""
    return (scope.platform.value, scope.workspace_id, scope.channel_id or "", key)


_M = TypeVar("_M", VideoResult, Failure)


def _load(model: type[_M], raw: str | None) -> _M | None:
    return None if raw is None else model.model_validate_json(raw)


def _parse_time(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


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


async def _migrate(db: aiosqlite.Connection, migrations: Sequence[str]) -> None:
    """Apply the scripts this database has not seen yet, each in one transaction."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
    rows = list(await db.execute_fetchall("SELECT version FROM schema_version"))
    if not rows:
        await db.execute("INSERT INTO schema_version (version) VALUES (0)")
    version = int(rows[0][0]) if rows else 0
    if version > len(migrations):
        raise ConfigError(
            f"The database is at schema version {version}, newer than this sorabot "
            f"knows ({len(migrations)}). Upgrade sorabot or use another DATABASE_URL."
        )
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
