"""Notices between the bot's processes (``bot.storage.notices``): every store on a
database hears what any of them publishes, itself included; on PostgreSQL they
survive the loss of the listening connection; moderators' settings cached by one
replica follow a change made through another.

Two stores on one database stand for two replicas. Notices arrive asynchronously,
so each test waits for the one it expects on an event, with a generous bound.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import pytest

from bot.models import Platform
from bot.ports import Scope
from bot.storage.notices import APPLICATION_NAME, SETTINGS_TOPIC
from bot.storage.postgres import PostgresTaskStore
from bot.storage.sqlite import SqliteTaskStore
from tests.backends import Backend, sqlite_backend

TOPIC = "sorabot_test"
SCOPE = Scope(platform=Platform.DISCORD, workspace_id="G1")
# Only how long a broken test takes to fail; a working one is done in milliseconds.
PATIENCE = 10.0

Store = SqliteTaskStore | PostgresTaskStore


class Inbox:
    """A subscriber: the payloads it was handed, and an event per count reached."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self._arrived = asyncio.Event()

    def __call__(self, payload: str) -> None:
        self.payloads.append(payload)
        self._arrived.set()

    async def next(self) -> str:
        await asyncio.wait_for(self._arrived.wait(), PATIENCE)
        self._arrived.clear()
        return self.payloads[-1]


async def subscribed(store: Store, topic: str = TOPIC) -> Inbox:
    inbox = Inbox()
    store.notices.subscribe(topic, inbox)
    await store.notices.listening()
    return inbox


async def test_a_notice_reaches_the_publishing_stores_own_subscribers(
    store: Store,
) -> None:
    inbox = await subscribed(store)

    await store.notices.publish(TOPIC, "task-1")

    assert await inbox.next() == "task-1"


async def test_sqlite_calls_a_handler_after_publish_returns_never_inside_it(
    tmp_path: Path,
) -> None:
    # (On PostgreSQL the notice may come back while publish waits for its answer.)
    async with sqlite_backend(tmp_path).open() as store:
        inbox = await subscribed(store)

        await store.notices.publish(TOPIC, "task-1")
        during = list(inbox.payloads)
        await inbox.next()

    assert during == []


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(payload: str) -> None:
        raise RuntimeError("handler bug")

    store.notices.subscribe(TOPIC, broken)
    inbox = await subscribed(store)

    await store.notices.publish(TOPIC, "task-1")

    assert await inbox.next() == "task-1"
    assert "A handler of the sorabot_test notice failed" in caplog.text


async def test_a_payload_postgresql_would_refuse_is_refused_on_both_backends(
    store: Store,
) -> None:
    with pytest.raises(ValueError, match="under 8,000 bytes"):
        await store.notices.publish(TOPIC, "x" * 8000)


async def test_sqlite_notices_stay_in_the_process(tmp_path: Path) -> None:
    backend = sqlite_backend(tmp_path)
    async with backend.open() as one, backend.open() as other:
        mine, theirs = await subscribed(one), await subscribed(other)

        await one.notices.publish(TOPIC, "task-1")

        assert await mine.next() == "task-1"
        assert theirs.payloads == []


async def test_a_notice_published_by_one_replica_reaches_every_replica(
    postgres_backend: Backend,
) -> None:
    async with postgres_backend.open() as one, postgres_backend.open() as two:
        mine, theirs = await subscribed(one), await subscribed(two)

        await one.notices.publish(TOPIC, "task-1")

        assert await mine.next() == "task-1"
        assert await theirs.next() == "task-1"


async def test_a_setting_changed_through_one_replica_is_seen_by_the_other(
    postgres_backend: Backend,
) -> None:
    async with postgres_backend.open() as one, postgres_backend.open() as two:
        assert await two.get_setting(SCOPE, "private_mode") is None  # now cached
        # After the store's own handler: by the time this one runs, it dropped
        # the entry.
        changes = await subscribed(two, SETTINGS_TOPIC)

        await one.set_setting(SCOPE, "private_mode", "1")
        await changes.next()
        seen = await two.get_setting(SCOPE, "private_mode")
        await one.set_setting(SCOPE, "private_mode", None)
        await changes.next()
        seen_after_removal = await two.get_setting(SCOPE, "private_mode")

    assert (seen, seen_after_removal) == ("1", None)


async def test_after_a_lost_connection_notices_resume_and_settings_are_reread(
    postgres_backend: Backend,
) -> None:
    async with postgres_backend.open() as one, postgres_backend.open() as two:
        await one.set_setting(SCOPE, "private_mode", "1")
        assert await two.get_setting(SCOPE, "private_mode") == "1"  # now cached
        theirs = await subscribed(two)
        reconnected = asyncio.Event()
        two.notices.on_reconnect(reconnected.set)
        # Changed past the stores, as if its notice had been sent while two's
        # connection was down.
        await postgres_backend.execute("UPDATE settings SET value = '0'")

        await _kill_listening_connections(postgres_backend.url)
        await asyncio.wait_for(reconnected.wait(), PATIENCE)
        seen = await two.get_setting(SCOPE, "private_mode")
        await one.notices.publish(TOPIC, "task-1")

        assert await theirs.next() == "task-1"
    assert seen == "0"


async def _kill_listening_connections(url: str) -> None:
    """End every store's listening connection on this database, as a server
    restart or an operator would."""
    db = await asyncpg.connect(url)
    try:
        killed = await db.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await db.close()
    assert killed, "no listening connection found"


@pytest.fixture(autouse=True)
def _notices_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage.notices")
