"""The tracker end to end: real runtime, real SQLite file, simulator over HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from bot.models import (
    Failure,
    FailureKind,
    Progress,
    Task,
    TaskState,
    VideoResult,
)
from bot.storage import open_store
from tests.backends import Backend
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_image, make_request, make_task, settled


async def test_task_is_delivered_once_with_progress_that_only_rises(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    outcomes = runtime.chat.outcomes(task.id)
    assert [e.kind for e in outcomes] == ["video"]
    video = await asyncio.to_thread(Path(outcomes[0].video.path).read_bytes)
    assert video[4:8] == b"ftyp"
    edits = runtime.chat.of(task.id, "edit")
    percents = [e.task.progress.percent for e in edits]
    assert percents == sorted(percents)
    assert len(set(percents)) > 2  # progress was shown rising, not just 0 and 100
    states = [e.task.state for e in edits]
    assert TaskState.RUNNING in states
    assert states[-1] is TaskState.DELIVERED
    assert stored.result is not None
    assert stored.provider_task_id is not None
    assert len(creates(simulator)) == 1


async def test_progress_edits_are_shown_without_reading_the_database(
    make_runtime,
) -> None:
    runtime = await make_runtime(SIMULATOR_DURATION=1.0)
    reads: list[str] = []
    read = runtime.store.get

    async def counted(task_id: str) -> Task:
        reads.append(task_id)
        return await read(task_id)

    runtime.store.get = counted

    task = await runtime.service.submit(make_request(image=make_image()))
    await runtime.chat.wait_for(lambda: runtime.chat.outcomes(task.id))

    edits = runtime.chat.of(task.id, "edit")
    running = [e for e in edits if e.task.state is TaskState.RUNNING]
    assert len({e.task.progress.percent for e in running}) >= 4
    # One read per step that changes the state (submit, running, succeeded), not
    # one per progress edit: at 10,000 tasks that is 1,000 reads a second.
    assert len(reads) <= 3
    # The edits still describe the request, reference image included.
    assert all(e.task.request.image is not None for e in edits)


async def test_video_lands_in_media_dir_under_the_task_id(make_runtime) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    expected = runtime.settings.media_dir / "videos" / f"{task.id}.mp4"
    assert stored.result is not None
    assert Path(stored.result.path) == expected
    assert expected.stat().st_size == stored.result.size_bytes


async def test_rate_limited_create_waits_for_retry_after(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()
    simulator.inject("rate_limit", on="create", seconds=1)

    started = time.monotonic()
    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    submitted = [
        e
        for e in runtime.chat.of(task.id, "edit")
        if e.task.state is TaskState.SUBMITTED
    ]
    assert stored.failure is None
    assert submitted[0].at - started >= 1.0
    assert [r.status for r in creates(simulator)][:2] == [429, 200]
    assert len(runtime.chat.outcomes(task.id)) == 1


async def test_unavailable_create_and_server_errors_on_query_are_retried(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()
    # 503 proves the create was not taken, so sending it again is safe.
    simulator.inject("server_error", on="create", status=503)
    simulator.inject("server_error", on="query", times=2)

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is None
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]
    assert len([r for r in creates(simulator) if r.status == 200]) == 1


async def test_rate_limited_status_query_is_retried(make_runtime) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request("a cat #ratelimit"))
    stored = await settled(runtime, task.id)

    assert stored.failure is None
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]


async def test_moderation_after_90_percent_tells_the_user_once(make_runtime) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request("a cat #moderation"))
    stored = await settled(runtime, task.id)

    outcomes = runtime.chat.outcomes(task.id)
    assert [e.kind for e in outcomes] == ["error"]
    assert stored.failure is not None
    assert stored.failure.kind in (
        FailureKind.MODERATION_OUTPUT,
        FailureKind.MODERATION,
    )
    assert outcomes[0].failure == stored.failure
    # The refusal comes after generation had gone most of the way (95 % of the
    # simulated run), not at submission.
    shown = [e.task.progress.percent for e in runtime.chat.of(task.id, "edit")]
    assert max(shown) >= 70
    assert stored.result is None


async def test_task_past_its_deadline_fails_with_timeout(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(TASK_DEADLINE=0.3)
    simulator.inject("slow", on="query", seconds=0.3, times=100)

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert stored.failure.kind is FailureKind.TIMEOUT
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["error"]


async def test_refused_key_fails_the_task_and_tells_the_operator_not_the_user(
    make_runtime, simulator, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await make_runtime()
    simulator.inject("auth", on="create")

    with caplog.at_level(logging.ERROR, logger="bot"):
        task = await runtime.service.submit(make_request())
        stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert stored.failure.kind is FailureKind.PROVIDER_CONFIG
    assert "operator" in stored.failure.message
    assert "API key was refused" in caplog.text
    assert "sk-test-key" not in caplog.text
    assert "sk-test-key" not in stored.failure.message
    assert len(creates(simulator)) == 1  # never retried


async def test_restart_mid_task_resumes_and_delivers_once(
    make_runtime, simulator, backend: Backend
) -> None:
    first = await make_runtime(DATABASE_URL=backend.url)
    task = await first.service.submit(make_request())
    await first.chat.wait_for(
        lambda: any(
            e.task.state is TaskState.RUNNING for e in first.chat.of(task.id, "edit")
        )
    )
    await first.__aexit__(None, None, None)

    second = await make_runtime(DATABASE_URL=backend.url)
    stored = await settled(second, task.id)

    assert first.chat.outcomes(task.id) == []
    assert [e.kind for e in second.chat.outcomes(task.id)] == ["video"]
    assert stored.failure is None
    assert len(creates(simulator)) == 1  # resumed by polling, not resubmitted


async def test_received_task_is_submitted_on_start(make_runtime, simulator) -> None:
    runtime = await make_runtime(start=False)
    task = make_task(make_request())
    await runtime.store.add(task)

    await runtime.start()
    stored = await settled(runtime, task.id)

    assert stored.failure is None
    assert len(creates(simulator)) == 1


async def test_finished_but_undelivered_task_is_delivered_without_provider_calls(
    make_runtime, simulator, tmp_path: Path
) -> None:
    runtime = await make_runtime(start=False)
    video = VideoResult(path=str(tmp_path / "v.mp4"), size_bytes=3)
    task = make_task(
        state=TaskState.SUCCEEDED,
        provider_task_id="video_x",
        result=video,
        progress=Progress(percent=100),
    )
    await runtime.store.add(task)

    await runtime.start()
    await settled(runtime, task.id)

    assert [("video", video)] == [
        (e.kind, e.video) for e in runtime.chat.outcomes(task.id)
    ]
    assert simulator.requests == []
    assert sum(simulator.queries.values()) == 0


async def test_task_the_provider_forgot_fails_plainly(make_runtime) -> None:
    runtime = await make_runtime(start=False)
    task = make_task(state=TaskState.SUBMITTED, provider_task_id="video_gone")
    await runtime.store.add(task)

    await runtime.start()
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "no longer knows" in stored.failure.message
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["error"]


async def test_failing_status_edits_do_not_stop_delivery(make_runtime) -> None:
    runtime = await make_runtime(chat=RecordingChat(fail_edits=True))

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is None
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]


async def test_failed_video_post_is_retried_and_posted_once(make_runtime) -> None:
    runtime = await make_runtime(chat=RecordingChat(fail_posts=2))

    task = await runtime.service.submit(make_request())
    await settled(runtime, task.id)

    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]


async def test_video_that_can_never_be_posted_becomes_a_delivery_failure(
    make_runtime,
) -> None:
    runtime = await make_runtime(chat=RecordingChat(fail_posts=5))

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id, within=30)

    assert stored.failure == Failure(
        kind=FailureKind.DELIVERY,
        message="The video was made but could not be posted here.",
    )
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["error"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_callback_makes_the_tracker_query_at_once(
    make_runtime, simulator
) -> None:
    port = _free_port()
    runtime = await make_runtime(
        SORA_API_DIALECT="v2",
        POLL_INTERVAL=30,
        HTTP_PORT=port,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id, within=10)

    assert stored.failure is None, stored.failure
    body = creates(simulator)[0].body
    callback_url = f"{runtime.base_url}/callbacks/{task.callback_token}"
    assert body["notify_hook"] == callback_url
    assert stored.failure is None
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]


async def test_unified_dialect_without_https_public_url_polls_and_sends_no_callback(
    make_runtime, simulator, caplog
) -> None:
    port = _free_port()
    runtime = await make_runtime(
        SORA_API_DIALECT="unified",
        HTTP_PORT=port,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id, within=10)

    # The relay refuses a whole create whose callback_url is not https.
    assert "callback_url" not in creates(simulator)[0].body
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["video"]
    assert stored.failure is None
    assert "accepts only https callback URLs" in caplog.text


async def test_shutdown_with_a_hung_provider_call_is_quick_and_loses_nothing(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()
    task = await runtime.service.submit(make_request())
    await runtime.chat.wait_for(lambda: runtime.chat.of(task.id, "edit"))
    simulator.inject("slow", on="query", seconds=30, times=100)
    await asyncio.sleep(0.2)  # let a status query hang

    started = time.monotonic()
    await runtime.__aexit__(None, None, None)
    elapsed = time.monotonic() - started

    assert elapsed < 5
    async with open_store(runtime.settings.database_url) as store:
        saved = await store.get(task.id)
    assert saved.state in (TaskState.SUBMITTED, TaskState.RUNNING)
    assert saved.provider_task_id is not None
