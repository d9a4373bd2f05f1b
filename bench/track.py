"""How the core tracks N concurrent tasks: memory, CPU, queries, lag.

The simulator runs in its own process (``python -m bot.simulator``), so the figures
below are the bot's alone. The bot side is the real ``Runtime`` (SQLite file,
shared httpx client, tracker, service) with a chat surface that only notes times.

    python bench/track.py                       # 10,000 tasks, 10 s poll interval
    python bench/track.py --tasks 1000 --poll-interval 2 --duration 20
    python bench/track.py --ramp 60     # submissions spread over a minute
    python bench/track.py --database postgresql://postgres@127.0.0.1:5432/bench

Targets: 10,000 in flight with peak RSS growth <= 100 MB, average CPU <= 0.5 core
while polling at a 10 s interval, every task noticed complete within one poll
interval of finishing at the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    SIM_KEY,
    OneThreadDirectory,
    cpu_seconds,
    status_kb,
)
from bot.config import Settings  # noqa: E402
from bot.models import (  # noqa: E402
    ChatRef,
    Failure,
    GenerationRequest,
    Platform,
    ProviderState,
    Requester,
    Task,
    TaskState,
    TaskStatus,
    VideoResult,
)
from bot.ports import VideoProvider  # noqa: E402
from bot.runtime import Runtime, settle_heap  # noqa: E402
from bot.simulator._tasks import TaskSpec  # noqa: E402
from tests.fakes.provider import simulator_process  # noqa: E402


def _own_kb(field: str) -> int:
    return status_kb(os.getpid(), field)


@dataclass
class Clock:
    """When each task reached each milestone, in unix seconds."""

    noticed: dict[str, float] = field(default_factory=dict)  # by provider task id
    succeeded: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    provider_ids: dict[str, str] = field(default_factory=dict)
    failed: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0


class TimingThread:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def post_status(self, task: Task) -> ChatRef:
        return task.chat

    async def edit_status(self, task: Task) -> None:
        if task.state is TaskState.SUCCEEDED and task.provider_task_id:
            self._clock.succeeded.setdefault(task.id, time.time())
            self._clock.provider_ids[task.id] = task.provider_task_id

    async def post_video(self, task: Task, video: VideoResult) -> None:
        self._finish(task)

    async def post_error(self, task: Task, failure: Failure) -> None:
        self._clock.failed += 1
        self._finish(task)

    def _finish(self, task: Task) -> None:
        self._clock.delivered[task.id] = time.time()
        if len(self._clock.delivered) >= self._clock.expected:
            self._clock.done.set()


def simulated_end(provider_task_id: str) -> float | None:
    code = provider_task_id.rsplit("_", 1)[-1]
    spec = TaskSpec.decode(code)
    return None if spec is None else spec.end


def note_completions(provider: VideoProvider, clock: Clock) -> None:
    """Record when a status answer first says "succeeded": the moment the bot
    noticed, before its download, save and chat edit."""
    query = provider.query

    async def timed(provider_task_id: str) -> TaskStatus:
        status = await query(provider_task_id)
        if status.state is ProviderState.SUCCEEDED:
            clock.noticed.setdefault(provider_task_id, time.time())
        return status

    provider.query = timed  # type: ignore[method-assign]


def lag_line(what: str, lags: list[float], limit: float) -> str:
    lags = sorted(lags)
    p50 = lags[len(lags) // 2]
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    late = sum(1 for lag in lags if lag > limit)
    return (
        f"{what}: p50 {p50:.2f} s, p99 {p99:.2f} s, max {lags[-1]:.2f} s; "
        f"later than one poll interval: {late}"
    )


async def run(
    args: argparse.Namespace, simulator_url: str, simulator_pid: int, workdir: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SORA_API_URL=simulator_url,
        SORA_API_KEY=SecretStr(SIM_KEY),
        SORA_API_DIALECT=args.dialect,
        DATABASE_URL=args.database or f"sqlite:///{workdir / 'bench.db'}",
        MEDIA_DIR=workdir / "media",
        HTTP_PORT=0,
        POLL_INTERVAL=args.poll_interval,
        TASK_DEADLINE=args.duration * 10 + 600,
    )
    clock = Clock(expected=args.tasks)
    requests: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        requests[request.method] += 1

    async with Runtime(settings) as runtime:
        runtime.http_client.event_hooks["request"].append(count)
        runtime.service.register_chat(OneThreadDirectory(TimingThread(clock)))
        note_completions(runtime.provider, clock)
        settle_heap()  # as ``sorabot run`` does once its adapters are attached
        await runtime.start()
        base_rss = _own_kb("VmRSS")
        cpu0, wall0 = cpu_seconds(os.getpid()), time.time()
        sim0 = cpu_seconds(simulator_pid)
        load0 = os.getloadavg()[0]

        for n in range(args.tasks):
            if args.ramp:
                await asyncio.sleep(
                    max(0.0, wall0 + n * args.ramp / args.tasks - time.time())
                )
            await runtime.service.submit(
                GenerationRequest(
                    prompt=f"bench task {n}",
                    requester=Requester(user_id=f"user{n}"),
                    chat=ChatRef(platform=Platform.CLI, workspace_id="bench"),
                )
            )
        cpu1, wall1, gets1 = cpu_seconds(os.getpid()), time.time(), requests["GET"]
        submitted_rss = _own_kb("VmRSS")
        print(
            f"submitted {args.tasks} tasks in {wall1 - wall0:.1f} s "
            f"({cpu1 - cpu0:.1f} CPU s); tracked: {runtime.tracker.tracked}"
        )

        # Steady state: everything in flight, nothing finished yet.
        steady = max(0.0, min(args.duration * 0.9 - (wall1 - wall0), 60.0))
        await asyncio.sleep(steady)
        cpu2, wall2, gets2 = cpu_seconds(os.getpid()), time.time(), requests["GET"]
        inflight_rss = _own_kb("VmRSS")

        await asyncio.wait_for(clock.done.wait(), timeout=args.duration * 5 + 300)
        cpu3, wall3 = cpu_seconds(os.getpid()), time.time()
        sim3 = cpu_seconds(simulator_pid)
        peak = _own_kb("VmHWM")

    ends = {pid: simulated_end(pid) for pid in clock.provider_ids.values()}
    noticed = [
        seen - end
        for pid, seen in clock.noticed.items()
        if (end := ends.get(pid)) is not None
    ]
    shown = [
        seen - end
        for task_id, seen in clock.succeeded.items()
        if (end := ends[clock.provider_ids[task_id]]) is not None
    ]
    gets = requests["GET"] - len(clock.succeeded)  # minus one download per video
    print(
        f"tasks: {args.tasks}, poll interval {args.poll_interval} s, "
        f"simulated duration {args.duration} s, dialect {args.dialect}, "
        f"database {'PostgreSQL' if args.database else 'SQLite'}"
    )
    print(f"wall time: {wall3 - wall0:.1f} s (submit {wall1 - wall0:.1f} s)")
    print(
        f"RSS: base {base_rss / 1024:.1f} MB, after submit "
        f"{submitted_rss / 1024:.1f} MB, all in flight {inflight_rss / 1024:.1f} "
        f"MB, peak growth {(peak - base_rss) / 1024:.1f} MB"
    )
    print(
        f"CPU: total {cpu3 - cpu0:.1f} s = {(cpu3 - cpu0) / (wall3 - wall0):.2f} "
        f"core; steady polling {cpu2 - cpu1:.1f} s over {wall2 - wall1:.1f} s = "
        f"{(cpu2 - cpu1) / max(wall2 - wall1, 1e-9):.2f} core"
    )
    steady_rate = (gets2 - gets1) / max(wall2 - wall1, 1e-9)
    print(
        f"status queries: {gets / args.tasks:.2f} per task; {steady_rate:.0f}/s "
        f"while all were in flight"
    )
    print(
        f"simulator process: {sim3 - sim0:.1f} CPU s = "
        f"{(sim3 - sim0) / (wall3 - wall0):.2f} core; machine load average "
        f"{load0:.1f} at start, {os.getloadavg()[0]:.1f} at end "
        f"({os.cpu_count()} CPUs)"
    )
    print(f"delivered: {len(clock.delivered)}, failed: {clock.failed}")
    if noticed:
        # The target: a status answer said "succeeded" within one interval.
        print(lag_line("noticed-complete lag", noticed, args.poll_interval))
    if shown:
        # What a user sees: the video downloaded, saved and the status edited.
        print(lag_line("shown-complete lag", shown, args.poll_interval))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument(
        "--duration",
        type=float,
        default=180.0,
        help="seconds each simulated task takes",
    )
    parser.add_argument("--dialect", default="openai")
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="spread the submissions over this many seconds (0: all at once)",
    )
    parser.add_argument(
        "--database",
        help="a DATABASE_URL instead of a new SQLite file; use an empty database, "
        "or its unfinished tasks are resumed too",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sorabot-bench-") as workdir:
        asyncio.run(run_with_simulator(args, Path(workdir)))


async def run_with_simulator(args: argparse.Namespace, workdir: Path) -> None:
    async with simulator_process(args.duration, "--api-key", SIM_KEY) as simulator:
        await run(args, simulator.base_url, simulator.pid, workdir)


if __name__ == "__main__":
    main()
