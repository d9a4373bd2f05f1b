"""Shared fixtures: isolated settings, a real SQLite store in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store import SqliteTaskStore

# Variables an operator's shell may have set that must not leak into tests.
_ENV_NAMES = (
    "SORA_API_URL",
    "SORA_API_KEY",
    "SORA_API_DIALECT",
    "SORA_MODEL",
    "SORA_WEBHOOK_SECRET",
    "DATABASE_URL",
    "PUBLIC_URL",
    "HTTP_HOST",
    "HTTP_PORT",
    "MEDIA_DIR",
    "POLL_INTERVAL",
    "TASK_DEADLINE",
    "USER_CONCURRENCY_LIMIT",
    "SIMULATOR_DURATION",
    "DISCORD_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
)


@pytest.fixture
def make_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """Settings on a tmp database and media dir, fast polling, no .env file.

    Keyword arguments use the environment names: ``make_settings(POLL_INTERVAL=1)``.
    """
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'sorabot.db'}",
            "MEDIA_DIR": tmp_path / "media",
            "HTTP_PORT": 0,
            "POLL_INTERVAL": 0.05,
            "SIMULATOR_DURATION": 0.5,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteTaskStore]:
    async with SqliteTaskStore.open(tmp_path / "store.db") as opened:
        yield opened
