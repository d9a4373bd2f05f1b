"""Durable tasks and settings: the ``TaskStore`` on SQLite or on PostgreSQL.

``DATABASE_URL`` picks the backend: ``sqlite:///path`` (the default, one process)
or ``postgresql://user:password@host:5432/database`` (several processes can share
it). ``rows`` maps a task to a table row for both, so they never drift.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.errors import ConfigError
from bot.ports import TaskStore
from bot.storage.postgres import PostgresTaskStore
from bot.storage.sqlite import SqliteTaskStore

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL names."""
    return Path(url[len(SQLITE_PREFIX) :]) if url.startswith(SQLITE_PREFIX) else None


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[TaskStore]:
    """Open and migrate the store ``url`` names; close it on exit.

    Raises ``ConfigError`` for any other URL, naming only its scheme: the rest may
    hold a password.
    """
    path = sqlite_path(url)
    if path is not None:
        async with SqliteTaskStore.open(path) as store:
            yield store
    elif url.split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in url:
        async with PostgresTaskStore.open(url) as pg_store:
            yield pg_store
    else:
        scheme = url.split(":", 1)[0] if ":" in url else "(no scheme)"
        raise ConfigError(
            "DATABASE_URL must look like sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/database "
            f"(got a URL starting {scheme}:)"
        )
