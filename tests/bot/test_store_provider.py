"""Which provider took a task is stored with it, and older databases learn it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.models import TaskState
from bot.storage.sqlite import MIGRATIONS, SqliteTaskStore
from tests.backends import Backend
from tests.fakes.tasks import make_task


async def test_the_provider_a_task_was_sent_to_is_saved_and_read_back(
    backend: Backend,
) -> None:
    task = make_task()
    async with backend.open() as store:
        await store.add(task)
        task.provider = "spare"
        task.provider_task_id = "task_1"
        await store.save(task)
    async with backend.open() as store:
        loaded = await store.get(task.id)

    assert (loaded.provider, loaded.provider_task_id) == ("spare", "task_1")


async def test_tasks_from_before_several_providers_belong_to_the_default_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    running = make_task(state=TaskState.RUNNING, provider_task_id="task_old")
    waiting = make_task()
    async with SqliteTaskStore.open(path, MIGRATIONS[:1]):
        pass
    with sqlite3.connect(path) as db:
        for task in (running, waiting):
            db.execute(
                "INSERT INTO tasks (id, state, platform, workspace_id, channel_id, "
                "user_id, dialect, provider_task_id, request, chat, created_at, "
                "updated_at) VALUES (?, ?, 'cli', '', '', 'u', 'openai', ?, ?, ?, "
                "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
                (
                    task.id,
                    task.state.value,
                    task.provider_task_id,
                    task.request.model_dump_json(),
                    task.chat.model_dump_json(),
                ),
            )

    async with SqliteTaskStore.open(path) as store:
        old_running = await store.get(running.id)
        old_waiting = await store.get(waiting.id)

    assert old_running.provider == "default"
    assert old_waiting.provider == ""  # never sent: it may go to any provider
