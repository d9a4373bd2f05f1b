"""The task state machine and the models' own rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.models import (
    ALLOWED_TRANSITIONS,
    Progress,
    TaskState,
)
from tests.fakes.tasks import make_image, make_request, make_task

HAPPY_PATH = (
    TaskState.RECEIVED,
    TaskState.SUBMITTED,
    TaskState.RUNNING,
    TaskState.SUCCEEDED,
    TaskState.DELIVERED,
)


def test_happy_path_is_allowed_step_by_step() -> None:
    task = make_task()
    for state in HAPPY_PATH[1:]:
        assert task.can_become(state)
        task.state = state


@pytest.mark.parametrize(
    "state", [TaskState.RECEIVED, TaskState.SUBMITTED, TaskState.RUNNING]
)
def test_in_flight_tasks_can_fail_or_be_cancelled(state: TaskState) -> None:
    task = make_task(state=state)

    assert task.can_become(TaskState.FAILED)
    assert task.can_become(TaskState.CANCELLED)


@pytest.mark.parametrize("state", [TaskState.CANCELLED, TaskState.DELIVERED])
def test_final_states_go_nowhere(state: TaskState) -> None:
    task = make_task(state=state)

    assert not any(task.can_become(s) for s in TaskState)


def test_outcome_cannot_be_cancelled_or_go_backwards() -> None:
    for state in (TaskState.SUCCEEDED, TaskState.FAILED):
        task = make_task(state=state)
        assert not task.can_become(TaskState.CANCELLED)
        assert not task.can_become(TaskState.RUNNING)


def test_succeeded_task_may_still_fail_to_deliver() -> None:
    assert make_task(state=TaskState.SUCCEEDED).can_become(TaskState.FAILED)


def test_every_state_has_a_transition_entry() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(TaskState)


def test_state_groups_partition_the_unfinished_states() -> None:
    in_flight = {s for s in TaskState if s.in_flight}
    waiting = {s for s in TaskState if s.awaiting_delivery}

    assert in_flight == {TaskState.RECEIVED, TaskState.SUBMITTED, TaskState.RUNNING}
    assert waiting == {TaskState.SUCCEEDED, TaskState.FAILED}


def test_progress_never_goes_backwards() -> None:
    progress = Progress(percent=60)

    assert progress.advanced_to(Progress(percent=40)).percent == 60
    assert progress.advanced_to(Progress(percent=75)).percent == 75


@pytest.mark.parametrize("percent", [-1, 101])
def test_progress_is_a_percentage(percent: int) -> None:
    with pytest.raises(ValidationError):
        Progress(percent=percent)


def test_request_is_immutable() -> None:
    request = make_request()

    with pytest.raises(ValidationError):
        request.prompt = "changed"  # type: ignore[misc]


def test_image_repr_hides_bytes_and_hash_is_of_content() -> None:
    image = make_image(data=b"abc")

    assert "abc" not in repr(image)
    assert image.sha256.startswith("ba7816bf")


def test_task_round_trips_through_json() -> None:
    task = make_task(make_request(style="anime", private=True))

    assert type(task).model_validate_json(task.model_dump_json()) == task
