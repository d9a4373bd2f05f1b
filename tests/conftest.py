"""Shared fixtures: isolated settings, real stores (SQLite and PostgreSQL), the
simulator, runtimes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from bot.config import Settings
from bot.storage.postgres import PostgresTaskStore
from bot.storage.sqlite import SqliteTaskStore
from tests.backends import (
    Backend,
    create_run_database,
    drop_run_database,
    drop_schema,
    postgres_backend_in,
    sqlite_backend,
)
from tests.fakes.chat import RecordingChat

if TYPE_CHECKING:
    # Imported where used, so a helper's half-written module breaks only the tests
    # that need it, not every test that loads this file.
    from bot.runtime import Runtime
    from bot.simulator import Simulator
    from tests.fakes.proxy import RecordingProxy

# Variables an operator's shell may have set that must not leak into tests.
_ENV_NAMES = (
    "SORA_API_URL",
    "SORA_API_KEY",
    "SORA_API_DIALECT",
    "SORA_MODEL",
    "SORA_WEBHOOK_SECRET",
    "SORA_PROVIDERS",
    "SORA_PROVIDERS_FILE",
    "SORA_CREATE_TIMEOUT",
    "DATABASE_URL",
    "PUBLIC_URL",
    "VIDEO_LINK_DAYS",
    "HTTP_HOST",
    "HTTP_PORT",
    "MEDIA_DIR",
    "MAX_VIDEO_MB",
    "POLL_INTERVAL",
    "TASK_DEADLINE",
    "USER_CONCURRENCY_LIMIT",
    "USER_QUEUE_LIMIT",
    "SERVER_CONCURRENCY_LIMIT",
    "SIMULATOR_DURATION",
    "USER_DAILY_VIDEOS",
    "SERVER_DAILY_VIDEOS",
    "SERVER_DAILY_BUDGET",
    "SERVER_MONTHLY_BUDGET",
    "SORA_PRICES",
    "CURRENCY",
    "REFUND_ON",
    "BLOCKED_WORDS",
    "DISCORD_TOKEN",
    "DISCORD_SHARD_COUNT",
    "DISCORD_SHARD_IDS",
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


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """This test run's own PostgreSQL database (its URL), dropped at the end."""
    url = create_run_database()
    yield url
    drop_run_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    """An empty database on each backend in turn (see ``tests.backends``)."""
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path)
        return
    fresh = await postgres_backend_in(request.getfixturevalue("postgres_database"))
    yield fresh
    await drop_schema(fresh)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start aiohttp apps on 127.0.0.1 (port 0); each call returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def postgres_backend(postgres_database: str) -> AsyncIterator[Backend]:
    """An empty PostgreSQL database (schema) for tests of PostgreSQL alone."""
    fresh = await postgres_backend_in(postgres_database)
    yield fresh
    await drop_schema(fresh)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[SqliteTaskStore | PostgresTaskStore]:
    """A migrated store on each backend in turn: the contract holds on both."""
    async with backend.open() as opened:
        yield opened


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """The provider simulator on loopback; tasks take half a second."""
    from bot.simulator import Simulator

    async with Simulator(duration=0.5, allow_loopback_callbacks=True) as running:
        yield running


@pytest.fixture
async def make_runtime(
    make_settings: Callable[..., Settings], simulator: Simulator
) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    """Opens real runtimes (store, tracker, HTTP server) against ``simulator``.

    Each runtime gets a ``RecordingChat`` (``runtime.chat``) for the CLI platform
    unless ``chat=`` passes one; ``start=False`` leaves it unstarted. Runtimes are
    closed at the end of the test (or earlier with ``await runtime.__aexit__``).
    """
    from bot.runtime import Runtime

    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *, chat: RecordingChat | None = None, start: bool = True, **env: Any
        ) -> Runtime:
            values: dict[str, Any] = {
                "SORA_API_URL": simulator.base_url,
                "SORA_API_KEY": "sk-test-key",
            }
            values.update(env)
            runtime = await stack.enter_async_context(Runtime(make_settings(**values)))
            recorder = chat or RecordingChat()
            runtime.service.register_chat(recorder)
            runtime.chat = recorder  # type: ignore[attr-defined]
            if start:
                await runtime.start()
            return runtime

        yield make


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable of the shell running the tests leaks in."""
    from tests.fakes.proxy import PROXY_NAMES

    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
async def proxy(no_proxy_env: pytest.MonkeyPatch) -> AsyncIterator[RecordingProxy]:
    """A recording proxy on loopback, named by ``HTTP_PROXY`` (and nothing else)."""
    from tests.fakes.proxy import RecordingProxy

    async with RecordingProxy() as running:
        no_proxy_env.setenv("HTTP_PROXY", running.url)
        yield running
