"""The two store backends, as tests open and inspect them.

SQLite is a file under ``tmp_path``. PostgreSQL is the server at
``SORABOT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``):
each test run creates a database of its own (``sorabot_test_<random>``) through that
URL and drops it at the end; each test gets a fresh schema in it, reached through
``search_path`` in the URL, so tests never see each other's rows or migrations.

Where PostgreSQL does not answer, its tests skip with one line saying why; under
``CI=true`` they fail instead, because CI must run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from bot.storage import postgres, sqlite
from bot.storage.postgres import PostgresTaskStore, where
from bot.storage.sqlite import SqliteTaskStore

POSTGRES_URL_VARIABLE = "SORABOT_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

_T = TypeVar("_T")


def admin_url() -> str:
    return os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)


def with_database(url: str, database: str, **query: str) -> str:
    """``url`` pointed at another database, with extra connection parameters."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}", query=urlencode(query)))


def run_apart(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` on an event loop of its own thread (for session fixtures,
    which live outside any one test's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _admin(url: str, statement: str) -> None:
    db = await asyncpg.connect(url, timeout=5)
    try:
        await db.execute(statement)
    finally:
        await db.close()


def create_run_database() -> str:
    """Create this run's database; return its URL. Skip (or fail on CI) without."""
    url = admin_url()
    name = f"sorabot_test_{uuid.uuid4().hex[:12]}"
    try:
        run_apart(_admin(url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = (
            f"PostgreSQL at {where(url)} is not reachable "
            f"({exc or type(exc).__name__}); set {POSTGRES_URL_VARIABLE} "
            "to run the PostgreSQL store tests"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: CI must run them)", pytrace=False)
        pytest.skip(reason)
    return with_database(url, name)


def drop_run_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    run_apart(_admin(admin_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Backend:
    """One test's database on one backend: open stores on it, and look inside."""

    name: str
    url: str
    migrations: tuple[str, ...]
    path: Path | None = None  # SQLite's file
    schema: str | None = None  # PostgreSQL's schema

    def open(
        self, migrations: Sequence[str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[SqliteTaskStore | PostgresTaskStore]:
        """A store on this database (``migrations`` instead of the backend's own)."""
        scripts = self.migrations if migrations is None else migrations
        if self.path is not None:
            return SqliteTaskStore.open(self.path, scripts)
        return PostgresTaskStore.open(self.url, scripts)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query run straight on the database, past the store."""
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                return db.execute(sql).fetchall()
        db = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await db.fetch(sql)]
        finally:
            await db.close()

    async def tables(self) -> set[str]:
        """The names of the tables in this database (this schema, on PostgreSQL)."""
        if self.path is not None:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return {str(row[0]) for row in await self.fetch(sql)}

    async def execute(self, script: str) -> None:
        """Run SQL straight on the database (a hand-made old schema, say)."""
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                db.executescript(script)
            return
        await _admin(self.url, script)


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "store.db"
    return Backend("sqlite", f"sqlite:///{path}", sqlite.MIGRATIONS, path=path)


async def postgres_backend_in(run_database: str) -> Backend:
    """A fresh, empty schema in this run's database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(run_database, f"CREATE SCHEMA {schema}")
    name = urlsplit(run_database).path.lstrip("/")
    url = with_database(run_database, name, search_path=schema)
    return Backend("postgres", url, postgres.MIGRATIONS, schema=schema)


async def drop_schema(backend: Backend) -> None:
    if backend.schema is not None:
        await _admin(backend.url, f"DROP SCHEMA {backend.schema} CASCADE")
