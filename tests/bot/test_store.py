"""The store contract on both backends (SQLite and PostgreSQL, see ``tests.backends``):
tasks and settings survive a reopen; databases migrate from empty and from the
previous schema; two replicas opening one fresh database at once migrate it once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.audit.entries import AuditEntry, AuditKind
from bot.errors import ConfigError, StoreUnavailable, TaskNotFound
from bot.models import (
    Failure,
    FailureKind,
    Platform,
    Progress,
    TaskState,
    VideoResult,
    utcnow,
)
from bot.ports import Scope, TaskStore
from bot.storage import postgres
from bot.storage.sqlite import MIGRATIONS, SqliteTaskStore
from tests.backends import Backend
from tests.fakes.tasks import make_image, make_request, make_task


async def test_task_survives_a_reopen_with_every_field(backend: Backend) -> None:
    image = make_image(source_url="https://cdn.example/ref.png")
    task = make_task(
        make_request(image=image, hd=True, model="sora-2-pro", style="anime"),
        deadline_at=utcnow() + timedelta(hours=1),
        parent_task_id="parent",
    )
    async with backend.open() as store:
        await store.add(task)
        task.state = TaskState.RUNNING
        task.provider_task_id = "video_123"
        task.progress = Progress(percent=42)
        task.chat = task.chat.model_copy(update={"status_message_id": "m1"})
        await store.save(task)

    async with backend.open() as store:
        loaded = await store.get(task.id)

    assert loaded == task
    assert loaded.request.image is not None
    assert loaded.request.image.data == image.data


async def test_result_and_failure_round_trip(store: TaskStore) -> None:
    task = make_task()
    await store.add(task)
    task.result = VideoResult(path="/tmp/v.mp4", size_bytes=10, source_url="u")
    task.failure = Failure(kind=FailureKind.MODERATION_OUTPUT, message="blocked")
    await store.save(task)

    loaded = await store.get(task.id)

    assert (loaded.result, loaded.failure) == (task.result, task.failure)


async def test_image_bytes_are_stored_once_per_content(
    store: TaskStore, backend: Backend
) -> None:
    image = make_image()
    tasks = [make_task(make_request(image=image)) for _ in range(3)]
    for task in tasks:
        await store.add(task)

    [(count,)] = await backend.fetch("SELECT COUNT(*) FROM images")
    [(inline,)] = await backend.fetch(
        "SELECT COUNT(*) FROM tasks WHERE CAST(request AS TEXT) LIKE '%iVBOR%'"
    )
    loaded = await store.get(tasks[2].id)

    assert (count, inline) == (1, 0)
    assert loaded.request.image == image


async def test_get_unknown_task_raises_task_not_found(store: TaskStore) -> None:
    with pytest.raises(TaskNotFound):
        await store.get("nope")
    with pytest.raises(TaskNotFound):
        await store.save(make_task(id="nope"))


async def test_unfinished_lists_in_flight_and_undelivered_tasks_only(
    store: TaskStore,
) -> None:
    by_state = {}
    for state in TaskState:
        task = make_task(state=state)
        await store.add(task)
        by_state[state] = task.id

    unfinished = {t.id for t in await store.unfinished()}

    expected = {
        by_state[s]
        for s in (
            TaskState.RECEIVED,
            TaskState.SUBMITTED,
            TaskState.RUNNING,
            TaskState.SUCCEEDED,
            TaskState.FAILED,
        )
    }
    assert expected == unfinished


async def test_in_flight_for_user_counts_only_that_users_running_tasks(
    store: TaskStore,
) -> None:
    mine = make_task(make_request(user="ann"), state=TaskState.RUNNING)
    done = make_task(make_request(user="ann"), state=TaskState.DELIVERED)
    other_user = make_task(make_request(user="bob"), state=TaskState.RUNNING)
    other_space = make_task(make_request(user="ann", workspace="w2"))
    for task in (mine, done, other_user, other_space):
        await store.add(task)

    found = await store.in_flight_for_user(Platform.CLI, "w1", "ann")

    assert [mine.id] == [t.id for t in found]


async def test_lookup_by_callback_token_and_provider_task_id(
    store: TaskStore,
) -> None:
    task = make_task(provider_task_id="task_9")
    await store.add(task)

    assert (await store.by_callback_token(task.callback_token or "")) == task
    assert (await store.by_provider_task_id("task_9")) == task
    assert await store.by_callback_token("forged") is None
    assert await store.by_provider_task_id("task_0") is None


async def test_recent_lists_newest_first(store: TaskStore) -> None:
    now = utcnow()
    tasks = [make_task(created_at=now + timedelta(seconds=i)) for i in range(5)]
    for task in tasks:
        await store.add(task)

    recent = await store.recent(limit=3)

    assert [t.id for t in tasks[:1:-1]] == [t.id for t in recent]


async def test_recent_breaks_a_tie_of_creation_times_by_order_added(
    store: TaskStore,
) -> None:
    now = utcnow()
    tasks = [make_task(created_at=now) for _ in range(4)]
    for task in tasks:
        await store.add(task)

    recent = await store.recent(limit=4)

    assert [t.id for t in reversed(tasks)] == [t.id for t in recent]


async def test_unfinished_and_in_flight_come_oldest_first(store: TaskStore) -> None:
    now = utcnow()
    tasks = [
        make_task(state=TaskState.RUNNING, created_at=now - timedelta(seconds=i))
        for i in range(3)
    ]
    for task in tasks:
        await store.add(task)

    unfinished = await store.unfinished()
    mine = await store.in_flight_for_user(Platform.CLI, "w1", "u1")

    oldest_first = [t.id for t in reversed(tasks)]
    assert [t.id for t in unfinished] == oldest_first
    assert [t.id for t in mine] == oldest_first


async def test_channel_setting_overrides_and_clears_back_to_workspace(
    store: TaskStore,
) -> None:
    workspace = Scope(platform=Platform.SLACK, workspace_id="T1")
    channel = Scope(platform=Platform.SLACK, workspace_id="T1", channel_id="C1")
    await store.set_setting(workspace, "private_mode", "1")
    await store.set_setting(channel, "private_mode", "0")
    await store.set_setting(channel, "private_mode", "1")

    both = (
        await store.get_setting(workspace, "private_mode"),
        await store.get_setting(channel, "private_mode"),
    )
    await store.set_setting(channel, "private_mode", None)

    assert both == ("1", "1")
    assert await store.get_setting(channel, "private_mode") is None
    assert await store.get_setting(workspace, "private_mode") == "1"


async def test_setting_read_before_it_was_set_reads_the_new_value_after(
    store: TaskStore,
) -> None:
    workspace = Scope(platform=Platform.DISCORD, workspace_id="G1")
    also_workspace = Scope(platform=Platform.DISCORD, workspace_id="G1", channel_id="")
    before = await store.get_setting(also_workspace, "private_mode")

    await store.set_setting(workspace, "private_mode", "1")

    assert before is None
    assert await store.get_setting(also_workspace, "private_mode") == "1"


async def test_settings_survive_a_reopen(backend: Backend) -> None:
    scope = Scope(platform=Platform.DISCORD, workspace_id="G1")
    async with backend.open() as store:
        await store.set_setting(scope, "user_limit", "5")
    async with backend.open() as store:
        assert await store.get_setting(scope, "user_limit") == "5"


async def test_sqlite_database_uses_wal(tmp_path: Path) -> None:
    async with SqliteTaskStore.open(tmp_path / "db"):
        with sqlite3.connect(tmp_path / "db") as db:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"


# -- migrations -----------------------------------------------------------------------


async def test_empty_database_is_migrated_to_the_current_version(
    backend: Backend,
) -> None:
    async with backend.open() as store:
        version = await store.schema_version()
        await store.add(make_task())

    assert version == len(backend.migrations)
    assert {"tasks", "images", "settings"} <= await backend.tables()


async def test_reopening_a_current_database_runs_no_migration_again(
    backend: Backend,
) -> None:
    task = make_task()
    async with backend.open() as store:
        await store.add(task)
    async with backend.open() as store:
        version = await store.schema_version()
        loaded = await store.get(task.id)

    assert (version, loaded) == (len(backend.migrations), task)


async def test_postgres_records_each_applied_version_once(
    postgres_backend: Backend,
) -> None:
    for _ in range(2):
        async with postgres_backend.open():
            pass

    versions = await postgres_backend.fetch(
        "SELECT version FROM schema_migrations ORDER BY version"
    )

    assert versions == [(n,) for n in range(1, len(postgres.MIGRATIONS) + 1)]


async def test_old_database_is_migrated_forward_keeping_its_rows(
    backend: Backend,
) -> None:
    task = make_task()
    async with backend.open() as store:
        await store.add(task)
    newer = (
        *backend.migrations,
        "ALTER TABLE tasks ADD COLUMN note TEXT DEFAULT 'hi';",
    )

    async with backend.open(newer) as store:
        version = await store.schema_version()
        loaded = await store.get(task.id)
    [(note,)] = await backend.fetch("SELECT note FROM tasks")

    assert (version, loaded, note) == (len(newer), task, "hi")


async def test_failed_migration_leaves_the_database_at_its_old_version(
    backend: Backend,
) -> None:
    async with backend.open():
        pass
    broken = (
        *backend.migrations,
        "CREATE TABLE extra (x INT); SELECT * FROM missing;",
    )

    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
        async with backend.open(broken):
            pass
    async with backend.open() as store:
        version = await store.schema_version()

    assert version == len(backend.migrations)
    assert "extra" not in await backend.tables()


async def test_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    newer = (*backend.migrations, "CREATE TABLE extra (x INT);")
    async with backend.open(newer):
        pass

    with pytest.raises(ConfigError, match="newer than this sorabot"):
        async with backend.open():
            pass


# The first SQLite schema as sorabot 0.1 created it, and a task row as it wrote one.
SQLITE_SCHEMA_1 = """
CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, platform TEXT NOT NULL,
    workspace_id TEXT NOT NULL, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
    dialect TEXT NOT NULL, provider_task_id TEXT, callback_token TEXT UNIQUE,
    progress INTEGER NOT NULL DEFAULT 0, request TEXT NOT NULL, chat TEXT NOT NULL,
    result TEXT, failure TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    deadline_at TEXT, parent_task_id TEXT
);
CREATE TABLE images (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE settings (
    platform TEXT NOT NULL, workspace_id TEXT NOT NULL, channel_id TEXT NOT NULL,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (platform, workspace_id, channel_id, key)
);
INSERT INTO tasks VALUES (
    'old1', 'running', 'slack', 'T1', 'C1', 'U1', 'v2', 'video_7', 'tok',
    40,
    '{"prompt":"a corgi","requester":{"user_id":"U1","display_name":"Ann"},'
    || '"chat":{"platform":"slack","workspace_id":"T1","channel_id":"C1"}}',
    '{"platform":"slack","workspace_id":"T1","channel_id":"C1",'
    || '"status_message_id":"1700.1"}',
    NULL, NULL, '2026-01-02T03:04:05+00:00', '2026-01-02T03:05:00+00:00',
    NULL, NULL
);
INSERT INTO settings VALUES ('slack', 'T1', '', 'private_mode', '1');
"""


async def test_a_database_of_the_first_sqlite_schema_opens_with_its_tasks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(SQLITE_SCHEMA_1)

    async with SqliteTaskStore.open(path) as store:
        version = await store.schema_version()
        task = await store.get("old1")
        resumed = [t.id for t in await store.unfinished()]
        private = await store.get_setting(
            Scope(platform=Platform.SLACK, workspace_id="T1"), "private_mode"
        )

    assert version == len(MIGRATIONS)
    assert (task.state, task.provider_task_id, task.progress.percent) == (
        TaskState.RUNNING,
        "video_7",
        40,
    )
    assert (task.request.prompt, task.chat.status_message_id) == ("a corgi", "1700.1")
    assert task.provider == "default"  # the one provider there was then
    assert (resumed, private) == (["old1"], "1")


async def test_two_replicas_opening_one_fresh_postgres_database_migrate_once(
    postgres_backend: Backend,
) -> None:
    # The first script sleeps before it creates anything, so both replicas would
    # find the database empty if nothing made the second wait; each run leaves a row.
    first = "\n".join(
        (
            "SELECT pg_sleep(0.5);",
            "CREATE TABLE IF NOT EXISTS migration_runs (n INT);",
            "INSERT INTO migration_runs VALUES (1);",
            postgres.MIGRATIONS[0],
        )
    )
    scripts = (first, *postgres.MIGRATIONS[1:])

    async def replica() -> int:
        async with postgres_backend.open(scripts) as store:
            await store.add(make_task())
            return await store.schema_version()

    versions = await asyncio.gather(replica(), replica())
    [(runs,)] = await postgres_backend.fetch("SELECT COUNT(*) FROM migration_runs")
    [(tasks,)] = await postgres_backend.fetch("SELECT COUNT(*) FROM tasks")

    assert versions == [len(scripts)] * 2
    assert (runs, tasks) == (1, 2)


async def test_ping_answers_while_open_and_says_unavailable_once_closed(
    backend: Backend,
) -> None:
    async with backend.open() as store:
        await store.ping()

    with pytest.raises(StoreUnavailable, match="does not answer"):
        await store.ping()


# -- the bot's line, members' history and the audit log ------------------------------


async def test_queued_lists_a_servers_waiting_tasks_oldest_first(
    store: TaskStore,
) -> None:
    now = utcnow()
    waiting = [
        make_task(state=TaskState.QUEUED, created_at=now - timedelta(seconds=i))
        for i in range(3)
    ]
    running = make_task(state=TaskState.RUNNING)
    elsewhere = make_task(make_request(workspace="w2"), state=TaskState.QUEUED)
    for task in (*waiting, running, elsewhere):
        await store.add(task)

    queued = await store.queued(Platform.CLI, "w1")

    assert [t.id for t in queued] == [t.id for t in reversed(waiting)]
    assert sorted(await store.queued_workspaces()) == [
        (Platform.CLI, "w1"),
        (Platform.CLI, "w2"),
    ]


async def test_running_counts_count_admitted_undelivered_tasks_per_member(
    store: TaskStore,
) -> None:
    for user, state in [
        ("ann", TaskState.RUNNING),
        ("ann", TaskState.SUCCEEDED),
        ("ann", TaskState.DELIVERED),
        ("bob", TaskState.SUBMITTED),
    ]:
        await store.add(make_task(make_request(user=user), state=state))

    assert await store.running_counts(Platform.CLI, "w1") == {"ann": 2, "bob": 1}
    # One member's and the server's, without a row per member.
    assert await store.running_for(Platform.CLI, "w1", "ann") == (2, 3)
    assert await store.running_for(Platform.CLI, "w1", "cid") == (0, 3)
    assert await store.running_for(Platform.CLI, "w2", "ann") == (0, 0)


async def test_recent_for_user_lists_that_members_newest_tasks(
    store: TaskStore,
) -> None:
    now = utcnow()
    mine = [
        make_task(make_request(user="ann"), created_at=now + timedelta(seconds=i))
        for i in range(3)
    ]
    for task in (*mine, make_task(make_request(user="bob"))):
        await store.add(task)

    recent = await store.recent_for_user(Platform.CLI, "w1", "ann", limit=2)

    assert [t.id for t in recent] == [mine[2].id, mine[1].id]


async def test_audit_entries_come_back_with_ids_filtered_by_server_and_time(
    store: TaskStore,
) -> None:
    now = utcnow()
    first = await store.add_audit(
        AuditEntry(
            at=now - timedelta(days=1),
            kind=AuditKind.VIDEO,
            platform=Platform.SLACK,
            workspace_id="T1",
            prompt="a corgi",
        )
    )
    second = await store.add_audit(
        AuditEntry(
            at=now, kind=AuditKind.SETTING, platform=Platform.SLACK, workspace_id="T2"
        )
    )

    everything = await store.audit_entries()
    of_t2 = await store.audit_entries(workspace_id="T2")
    today = await store.audit_entries(since=now - timedelta(hours=1))

    assert None not in (first.id, second.id)
    assert everything == [first, second]
    assert of_t2 == today == [second]


async def test_a_takedown_is_saved_with_the_task(store: TaskStore) -> None:
    task = make_task(state=TaskState.DELIVERED)
    await store.add(task)
    task.taken_down_by = "mod"
    task.taken_down_at = utcnow()
    await store.save(task)

    assert await store.get(task.id) == task
