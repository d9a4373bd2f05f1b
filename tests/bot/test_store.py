"""The SQLite store: tasks and settings survive a reopen; old files migrate forward."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError, TaskNotFound
from bot.models import (
    Failure,
    FailureKind,
    Platform,
    Progress,
    TaskState,
    VideoResult,
    utcnow,
)
from bot.ports import Scope
from bot.storage.sqlite import MIGRATIONS, SqliteTaskStore
from tests.fakes.tasks import make_image, make_request, make_task


async def test_task_survives_a_reopen_with_every_field(tmp_path: Path) -> None:
    image = make_image(source_url="https://cdn.example/ref.png")
    task = make_task(
        make_request(image=image, hd=True, model="sora-2-pro", style="anime"),
        deadline_at=utcnow() + timedelta(hours=1),
        parent_task_id="parent",
    )
    async with SqliteTaskStore.open(tmp_path / "db.sqlite") as store:
        await store.add(task)
        task.state = TaskState.RUNNING
        task.provider_task_id = "video_123"
        task.progress = Progress(percent=42)
        task.chat = task.chat.model_copy(update={"status_message_id": "m1"})
        await store.save(task)

    async with SqliteTaskStore.open(tmp_path / "db.sqlite") as store:
        loaded = await store.get(task.id)

    assert loaded == task
    assert loaded.request.image is not None
    assert loaded.request.image.data == image.data


async def test_result_and_failure_round_trip(store: SqliteTaskStore) -> None:
    task = make_task()
    await store.add(task)
    task.result = VideoResult(path="/tmp/v.mp4", size_bytes=10, source_url="u")
    task.failure = Failure(kind=FailureKind.MODERATION_OUTPUT, message="blocked")
    await store.save(task)

    loaded = await store.get(task.id)

    assert (loaded.result, loaded.failure) == (task.result, task.failure)


async def test_image_bytes_are_stored_once_per_content(
    store: SqliteTaskStore, tmp_path: Path
) -> None:
    image = make_image()
    for _ in range(3):
        await store.add(make_task(make_request(image=image)))

    with sqlite3.connect(tmp_path / "store.db") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM images").fetchone()
        (inline,) = db.execute(
            "SELECT COUNT(*) FROM tasks WHERE request LIKE '%iVBOR%'"
        ).fetchone()

    assert (count, inline) == (1, 0)


async def test_get_unknown_task_raises_task_not_found(store: SqliteTaskStore) -> None:
    with pytest.raises(TaskNotFound):
        await store.get("nope")
    with pytest.raises(TaskNotFound):
        await store.save(make_task(id="nope"))


async def test_unfinished_lists_in_flight_and_undelivered_tasks_only(
    store: SqliteTaskStore,
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
    store: SqliteTaskStore,
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
    store: SqliteTaskStore,
) -> None:
    task = make_task(provider_task_id="task_9")
    await store.add(task)

    assert (await store.by_callback_token(task.callback_token or "")) == task
    assert (await store.by_provider_task_id("task_9")) == task
    assert await store.by_callback_token("forged") is None
    assert await store.by_provider_task_id("task_0") is None


async def test_recent_lists_newest_first(store: SqliteTaskStore) -> None:
    now = utcnow()
    tasks = [make_task(created_at=now + timedelta(seconds=i)) for i in range(5)]
    for task in tasks:
        await store.add(task)

    recent = await store.recent(limit=3)

    assert [t.id for t in tasks[:1:-1]] == [t.id for t in recent]


async def test_channel_setting_overrides_and_clears_back_to_workspace(
    store: SqliteTaskStore,
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
    store: SqliteTaskStore,
) -> None:
    workspace = Scope(platform=Platform.DISCORD, workspace_id="G1")
    also_workspace = Scope(platform=Platform.DISCORD, workspace_id="G1", channel_id="")
    before = await store.get_setting(also_workspace, "private_mode")

    await store.set_setting(workspace, "private_mode", "1")

    assert before is None
    assert await store.get_setting(also_workspace, "private_mode") == "1"


async def test_settings_survive_a_reopen(tmp_path: Path) -> None:
    scope = Scope(platform=Platform.DISCORD, workspace_id="G1")
    async with SqliteTaskStore.open(tmp_path / "db") as store:
        await store.set_setting(scope, "user_limit", "5")
    async with SqliteTaskStore.open(tmp_path / "db") as store:
        assert await store.get_setting(scope, "user_limit") == "5"


async def test_database_uses_wal(tmp_path: Path) -> None:
    async with SqliteTaskStore.open(tmp_path / "db"):
        with sqlite3.connect(tmp_path / "db") as db:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"


async def test_old_database_is_migrated_forward_keeping_its_rows(
    tmp_path: Path,
) -> None:
    task = make_task()
    async with SqliteTaskStore.open(tmp_path / "db", MIGRATIONS) as store:
        await store.add(task)
        assert await store.schema_version() == len(MIGRATIONS)
    newer = (*MIGRATIONS, "ALTER TABLE tasks ADD COLUMN note TEXT DEFAULT 'hi';")

    async with SqliteTaskStore.open(tmp_path / "db", newer) as store:
        version = await store.schema_version()
        loaded = await store.get(task.id)
    with sqlite3.connect(tmp_path / "db") as db:
        (note,) = db.execute("SELECT note FROM tasks").fetchone()

    assert (version, loaded, note) == (len(newer), task, "hi")


async def test_failed_migration_leaves_the_database_at_its_old_version(
    tmp_path: Path,
) -> None:
    async with SqliteTaskStore.open(tmp_path / "db"):
        pass
    broken = (*MIGRATIONS, "CREATE TABLE extra (x INT); SELECT * FROM missing;")

    with pytest.raises(sqlite3.OperationalError):
        await SqliteTaskStore.connect(tmp_path / "db", broken)
    async with SqliteTaskStore.open(tmp_path / "db") as store:
        version = await store.schema_version()
    with sqlite3.connect(tmp_path / "db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}

    assert version == len(MIGRATIONS)
    assert "extra" not in tables


async def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    newer = (*MIGRATIONS, "CREATE TABLE extra (x INT);")
    async with SqliteTaskStore.open(tmp_path / "db", newer):
        pass

    with pytest.raises(ConfigError, match="newer than this sorabot"):
        await SqliteTaskStore.connect(tmp_path / "db")
