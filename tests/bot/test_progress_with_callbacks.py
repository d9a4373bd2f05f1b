"""A callback only shortens the wait for the end: progress keeps its pace.

v2's ``notify_hook`` reports the end of a task, not its progress, so the bot
polls at the normal interval whether or not a callback is expected.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from bot.config import Settings
from bot.models import TaskState
from bot.runtime import Runtime
from bot.simulator import Simulator
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_request, settled


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_task_with_a_callback_shows_progress_at_the_poll_interval(
    make_settings: Callable[..., Settings],
) -> None:
    # A 20 s task at the default 10 s interval, a tenth as long: the pace is the
    # interval times fixed shares (bot.tracking.timing), whatever the interval.
    # The task runs 2.5 s rather than 2: the second poll then has 0.6 s to spare.
    port = _free_port()
    async with Simulator(2.5, api_key="k", allow_loopback_callbacks=True) as sim:
        settings = make_settings(
            SORA_API_URL=sim.base_url,
            SORA_API_KEY="k",
            SORA_API_DIALECT="v2",
            POLL_INTERVAL=1.0,
            HTTP_PORT=port,
            PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        async with Runtime(settings) as runtime:
            chat = RecordingChat()
            runtime.service.register_chat(chat)
            await runtime.start()
            task = await runtime.service.submit(make_request())
            stored = await settled(runtime, task.id, within=10)

    assert creates(sim)[0].body["notify_hook"].endswith(task.callback_token)
    assert stored.failure is None
    [video] = chat.outcomes(task.id)
    running = [
        e
        for e in chat.of(task.id, "edit")
        if e.task.state is TaskState.RUNNING and e.at < video.at
    ]
    # Polls 0.95 s apart, the first within the first period: two progress edits
    # before the end (at three times the interval there was at most one).
    assert len(running) >= 2
    assert all(0 < e.task.progress.percent < 100 for e in running)
