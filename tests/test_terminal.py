"""The command line's chat surface: what the user sees on stderr and finds on disk."""

from __future__ import annotations

import io
import re
from pathlib import Path

from bot.models import (
    Failure,
    FailureKind,
    GenerationRequest,
    Progress,
    Requester,
    Task,
    TaskState,
    VideoResult,
)
from bot.terminal import TerminalDirectory, cli_chat


def _task(out: Path, percent: int = 0, state: TaskState = TaskState.RUNNING) -> Task:
    chat = cli_chat(out)
    request = GenerationRequest(
        prompt="a corgi surfing at sunset",
        requester=Requester(user_id="me"),
        chat=chat,
    )
    return Task(
        id="t1",
        request=request,
        chat=chat,
        state=state,
        progress=Progress(percent=percent),
    )


def _percents(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", text)]


def _video(
    tmp_path: Path, data: bytes = b"\x00\x00\x00\x18ftypmp42rest"
) -> VideoResult:
    media = tmp_path / "media" / "t1.mp4"
    media.parent.mkdir(exist_ok=True)
    media.write_bytes(data)
    return VideoResult(path=str(media), size_bytes=len(data))


async def test_progress_bar_only_rises_even_when_progress_arrives_out_of_order(
    tmp_path,
):
    stream = io.StringIO()
    directory = TerminalDirectory(stream)
    out = tmp_path / "corgi.mp4"
    thread = directory.thread(cli_chat(out))

    await thread.post_status(_task(out, 0, TaskState.SUBMITTED))
    for percent in (10, 40, 30, 40, 70):
        await thread.edit_status(_task(out, percent))

    assert _percents(stream.getvalue()) == [0, 10, 40, 70]


async def test_post_video_writes_the_mp4_to_the_recorded_out_path(tmp_path):
    stream = io.StringIO()
    directory = TerminalDirectory(stream)
    out = tmp_path / "sub" / "corgi.mp4"
    video = _video(tmp_path)

    await directory.thread(cli_chat(out)).post_video(_task(out, 80), video)

    assert out.read_bytes()[4:8] == b"ftyp"
    assert _percents(stream.getvalue())[-1] == 100
    assert await directory.outcome("t1") is None


async def test_delivering_again_after_a_restart_keeps_the_video(tmp_path):
    out = tmp_path / "corgi.mp4"
    video = _video(tmp_path)
    task = _task(out, 100, TaskState.SUCCEEDED)
    await TerminalDirectory(io.StringIO()).thread(task.chat).post_video(task, video)

    restarted = TerminalDirectory(io.StringIO())
    await restarted.thread(task.chat).post_video(task, video)

    assert out.stat().st_size == video.size_bytes
    assert list(tmp_path.glob(".*partial")) == []


async def test_post_error_prints_one_plain_line_and_reports_the_failure(tmp_path):
    stream = io.StringIO()
    directory = TerminalDirectory(stream)
    out = tmp_path / "corgi.mp4"
    failure = Failure(kind=FailureKind.MODERATION_PROMPT, message='{"code":"x"}')

    await directory.thread(cli_chat(out)).post_error(_task(out, 95), failure)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Failed: The video service refused the prompt")
    assert "{" not in lines[0]
    assert await directory.outcome("t1") == failure
    assert not out.exists()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_on_a_terminal_the_bar_is_redrawn_in_place(tmp_path):
    stream = _Tty()
    directory = TerminalDirectory(stream)
    out = tmp_path / "corgi.mp4"
    thread = directory.thread(cli_chat(out))
    await thread.post_status(_task(out, 0, TaskState.SUBMITTED))

    for percent in (20, 60):
        await thread.edit_status(_task(out, percent))
    await thread.post_video(_task(out, 60), _video(tmp_path))

    bars, saved = stream.getvalue().split("\n")[1:3]
    assert bars.count("\r") == 4
    assert _percents(bars) == [0, 20, 60, 100]
    assert saved.startswith("Saved ")
