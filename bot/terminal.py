"""The command line as a chat surface: a progress bar on stderr, the MP4 on disk.

``sorabot generate`` submits its request with ``ChatRef(platform=cli,
channel_id=<absolute --out path>)``, so everything this renderer needs survives in the
task itself: ``sorabot resume`` after a crash delivers to the same file with nothing
but the stored ``task.chat``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TextIO

from bot.audit.entries import AuditEntry
from bot.models import (
    ChatRef,
    Failure,
    Platform,
    Task,
    TaskState,
    VideoResult,
)
from bot.rendering import failure_text, progress_bar, settings_summary, state_label
from bot.wording import for_surface

BAR_WIDTH = 30


def cli_chat(out: Path) -> ChatRef:
    """Where a command-line task delivers: the absolute path of its ``--out`` file."""
    return ChatRef(platform=Platform.CLI, channel_id=str(out.resolve()))


class TerminalDirectory:
    """``ChatDirectory`` for command-line tasks; also tells the CLI when one is done.

    Args:
        stream: where progress and errors are written (stderr, so stdout stays
            clean for scripts).
    """

    platform = Platform.CLI

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._tty = stream.isatty()
        # Highest percent drawn per task: the bar only rises, whatever arrives late.
        self._shown: dict[str, int] = {}
        self._lines: dict[str, str] = {}
        self._line_open: str | None = None
        self._outcomes: dict[str, asyncio.Future[Failure | None]] = {}

    def thread(self, chat: ChatRef) -> TerminalThread:
        return TerminalThread(self, Path(chat.channel_id))

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        """The terminal has no audit channel: ``sorabot audit`` reads the record."""

    async def outcome(self, task_id: str) -> Failure | None:
        """Wait until the task's video was written (``None``) or its failure shown."""
        return await asyncio.shield(self._future(task_id))

    def _future(self, task_id: str) -> asyncio.Future[Failure | None]:
        future = self._outcomes.get(task_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._outcomes[task_id] = future
        return future

    def finish(self, task_id: str, failure: Failure | None) -> None:
        """Record the task's outcome for whoever waits in ``outcome``."""
        future = self._future(task_id)
        if not future.done():
            future.set_result(failure)

    def draw(self, task: Task, out: Path) -> None:
        """Redraw the task's bar if it rose or its headline changed."""
        percent = max(task.progress.percent, self._shown.get(task.id, 0))
        if task.state is TaskState.SUCCEEDED:
            percent = 100
        self._shown[task.id] = percent
        line = f"{out.name}: {state_label(task):<10} {progress_bar(percent, BAR_WIDTH)}"
        if self._lines.get(task.id) == line:
            return
        self._lines[task.id] = line
        if self._tty:
            # One line per task, redrawn in place; another task's line starts anew.
            if self._line_open not in (None, task.id):
                self.stream.write("\n")
            self.stream.write(f"\r{line}\x1b[K")
            self._line_open = task.id
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        """Print one message on its own line, after any bar being redrawn."""
        if self._line_open is not None:
            self.stream.write("\n")
            self._line_open = None
        self.stream.write(f"{text}\n")
        self.stream.flush()


class TerminalThread:
    """One command-line task's ``ChatThread``; ``out`` is its ``--out`` file."""

    def __init__(self, directory: TerminalDirectory, out: Path) -> None:
        self._directory = directory
        self._out = out

    async def post_status(self, task: Task) -> ChatRef:
        request = task.request
        self._directory.say(
            f'Generating "{request.prompt}" ({settings_summary(task)}) '
            f"as task {task.id}, into {self._out}"
        )
        self._directory.draw(task, self._out)
        return task.chat

    async def edit_status(self, task: Task) -> None:
        self._directory.draw(task, self._out)

    async def post_video(self, task: Task, video: VideoResult) -> None:
        """Writes ``--out``; nothing is posted, so nothing can be taken down."""
        self._directory.draw(
            task.model_copy(update={"state": TaskState.SUCCEEDED}), self._out
        )
        await asyncio.to_thread(_place, Path(video.path), self._out, video.size_bytes)
        self._directory.say(f"Saved {video.size_bytes} bytes to {self._out}")
        self._directory.finish(task.id, None)

    async def remove_video(self, task: Task) -> None:
        """The file at ``--out`` belongs to whoever ran the command: left alone."""

    async def post_error(self, task: Task, failure: Failure) -> None:
        reason = for_surface(failure_text(failure), Platform.CLI)
        self._directory.say(f"Failed: {reason}")
        self._directory.finish(task.id, failure)


def _place(source: Path, out: Path, size: int) -> None:
    """Move the downloaded video to ``out`` without ever leaving half a file there.

    Delivery may be repeated after a crash between moving the file and recording the
    task as delivered; then the source is gone and ``out`` already holds the video.
    """
    if not source.exists() and out.exists() and out.stat().st_size == size:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    shutil.move(source, partial)
    os.replace(partial, out)
