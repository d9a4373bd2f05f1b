"""One mapping between a ``Task`` and a row of the ``tasks`` table, for every backend.

Both stores write and read the same columns through these functions, so a field
added to ``Task`` is added here once and cannot reach one backend and miss the other.
They differ only in how a moment is spelt: SQLite keeps ISO text (which sorts in time
order, every moment being UTC), PostgreSQL ``timestamptz``; each passes its own
``encode_time`` and ``load_task`` reads both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bot.errors import ConfigError
from bot.models import (
    ChatRef,
    Failure,
    GenerationRequest,
    ImageInput,
    Progress,
    Task,
    TaskState,
    VideoResult,
)
from bot.ports import Scope

UNFINISHED = tuple(s.value for s in TaskState if s.tracked)
IN_FLIGHT = tuple(s.value for s in TaskState if s.in_flight)
# Running, as far as a member's or a server's running limit is concerned: from
# admission until the outcome has been delivered.
RUNNING = UNFINISHED

# What ``save`` writes: everything that can change once a task is added.
SAVE_COLUMNS = (
    "state",
    "dialect",
    "provider",
    "provider_task_id",
    "callback_token",
    "progress",
    "chat",
    "result",
    "failure",
    "updated_at",
    "deadline_at",
    "taken_down_by",
    "taken_down_at",
)
# What ``add`` writes: the fixed part (the request and who asked), then the rest.
ADD_COLUMNS = (
    "id",
    "platform",
    "workspace_id",
    "channel_id",
    "user_id",
    "request",
    "created_at",
    "parent_task_id",
    *SAVE_COLUMNS,
)
# A new task that starts at once is leased to the replica that admits it.
LEASE_COLUMNS = ("lease_holder", "lease_expires")
# What ``load_task`` reads.
SELECT_COLUMNS = ", ".join(
    (
        "id",
        "request",
        "created_at",
        "parent_task_id",
        *SAVE_COLUMNS,
    )
)


class Row(Protocol):
    """A result row by column name: ``sqlite3.Row`` and ``asyncpg.Record`` both are."""

    def __getitem__(self, column: str, /) -> Any: ...


TimeEncoder = Callable[[datetime], object]
ImageReader = Callable[[str], Awaitable[bytes | None]]
# A backend's query parameter marker for the n-th value (1-based): ?, $1, ...
Marker = Callable[[int], str]


def insert_sql(mark: Marker, *, leased: bool = False) -> str:
    """``INSERT`` of ``ADD_COLUMNS`` (and ``LEASE_COLUMNS``), for ``add_values``."""
    columns = (*ADD_COLUMNS, *LEASE_COLUMNS) if leased else ADD_COLUMNS
    marks = ", ".join(mark(n) for n in range(1, len(columns) + 1))
    return f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({marks})"


def save_sql(mark: Marker) -> str:
    """``UPDATE`` of ``SAVE_COLUMNS`` by id, for ``save_values``."""
    sets = ", ".join(f"{c} = {mark(n)}" for n, c in enumerate(SAVE_COLUMNS, 1))
    return f"UPDATE tasks SET {sets} WHERE id = {mark(len(SAVE_COLUMNS) + 1)}"


def add_values(task: Task, encode_time: TimeEncoder) -> tuple[object, ...]:
    """The values of ``ADD_COLUMNS``, in that order (then a lease's, if any)."""
    values = _values(task, encode_time)
    return tuple(values[column] for column in ADD_COLUMNS)


def save_values(task: Task, encode_time: TimeEncoder) -> tuple[object, ...]:
    """The values of ``SAVE_COLUMNS``, in that order, then the task's id."""
    values = _values(task, encode_time)
    return (*(values[column] for column in SAVE_COLUMNS), task.id)


def image_of(task: Task) -> tuple[str, bytes] | None:
    """The reference image's hash and bytes, stored once in the ``images`` table."""
    image = task.request.image
    return None if image is None else (image.sha256, image.data)


async def load_task(row: Row, read_image: ImageReader) -> Task:
    """The task in a row of ``SELECT_COLUMNS``; ``read_image`` fetches image bytes."""
    request = json.loads(row["request"])
    image = request.pop("image", None)
    if image is not None:
        sha256 = image.pop("sha256")
        data = await read_image(sha256)
        if data is None:
            raise ConfigError(f"the database lost reference image {sha256[:12]}")
        request["image"] = ImageInput(**image, data=data)
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
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        deadline_at=_time_or_none(row["deadline_at"]),
        parent_task_id=row["parent_task_id"],
        taken_down_by=row["taken_down_by"],
        taken_down_at=_time_or_none(row["taken_down_at"]),
    )


def setting_key(scope: Scope, key: str) -> tuple[str, str, str, str]:
    """The settings table's primary key; ``''`` stands for the whole workspace."""
    return (scope.platform.value, scope.workspace_id, scope.channel_id or "", key)


def _values(task: Task, encode_time: TimeEncoder) -> dict[str, object]:
    request = task.request
    return {
        "id": task.id,
        "state": task.state.value,
        "platform": request.chat.platform.value,
        "workspace_id": request.chat.workspace_id,
        "channel_id": request.chat.channel_id,
        "user_id": request.requester.user_id,
        "dialect": task.dialect,
        "provider": task.provider,
        "provider_task_id": task.provider_task_id,
        "callback_token": task.callback_token,
        "progress": task.progress.percent,
        "request": _request_json(request),
        "chat": _dump(task.chat),
        "result": _dump(task.result),
        "failure": _dump(task.failure),
        "created_at": encode_time(task.created_at),
        "updated_at": encode_time(task.updated_at),
        "deadline_at": (
            None if task.deadline_at is None else encode_time(task.deadline_at)
        ),
        "parent_task_id": task.parent_task_id,
        "taken_down_by": task.taken_down_by,
        "taken_down_at": (
            None if task.taken_down_at is None else encode_time(task.taken_down_at)
        ),
    }


def _request_json(request: GenerationRequest) -> str:
    """The request without image bytes; the image is referenced by its hash."""
    data = request.model_dump(mode="json", exclude={"image"})
    if request.image is not None:
        image = request.image.model_dump(mode="json", exclude={"data"})
        data["image"] = {**image, "sha256": request.image.sha256}
    return json.dumps(data, separators=(",", ":"))


def _dump(model: Any) -> str | None:
    return None if model is None else str(model.model_dump_json())


_M = TypeVar("_M", VideoResult, Failure)


def _load(model: type[_M], raw: str | None) -> _M | None:
    return None if raw is None else model.model_validate_json(raw)


def _time(raw: datetime | str) -> datetime:
    return raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)


def _time_or_none(raw: datetime | str | None) -> datetime | None:
    return None if raw is None else _time(raw)
