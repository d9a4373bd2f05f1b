"""One measured bot for ``bench/track.py``: a real ``Runtime`` in a process of its own.

Each backend, and each replica sharing a database, gets a fresh process, so one
measurement's heap, collector state and RSS high-water mark never colour the next,
and two replicas are two OS processes as they are in production. The process
speaks JSON lines: ``track.py`` writes ``Command``s on its stdin, it answers with
``Report``s on its stdout; warnings go to stderr.

    ready  ->  submit (its share of the tasks, at a common start time)
           <-  delivered (new task ids, every half second)
    done   ->  (CPU and RSS noted: every task was delivered somewhere)
    finish ->  figures (after the runtime has closed)
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import SIM_KEY, OneThreadDirectory, cpu_seconds, status_kb  # noqa: E402
from bot.config import Dialect, Settings  # noqa: E402
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
from bot.storage.base import SqlTaskStore  # noqa: E402

# How often the bot tells the bench which tasks it has delivered.
PROGRESS_EVERY = 0.5


class BotConfig(BaseModel):
    """What one measured bot runs against (its command-line argument, as JSON)."""

    database_url: str
    simulator_url: str
    workdir: Path
    tasks: int  # across every replica
    poll_interval: float
    duration: float
    dialect: Dialect
    ramp: float
    replica_id: str


class Command(BaseModel):
    """A line the bench writes to a bot's stdin."""

    kind: Literal["submit", "done", "finish"]
    first: int = 0  # submit task numbers first, first + step, ... below ``tasks``
    step: int = 1
    at: float = 0.0  # unix time the submissions start (the same for every replica)


class Figures(BaseModel):
    """What one bot measured. Times are unix seconds, RSS in kB, CPU in seconds."""

    replica_id: str
    submitted: list[str]  # ids of the tasks this bot submitted
    submit_wall: float
    submit_cpu: float
    tracked_after_submit: int
    rss_base: int
    rss_submitted: int
    rss_in_flight: int
    rss_peak: int
    cpu_total: float  # from the first submission until the bench said "done"
    wall_total: float
    cpu_steady: float  # all in flight, nothing finished yet
    wall_steady: float
    tracked_steady: int
    status_queries: int
    status_queries_steady: int
    creates_sent: int
    statements: dict[str, int]  # by the store's name for the statement
    statements_steady: int
    deliveries: dict[str, int]  # task id -> outcomes this bot posted for it
    delivered_at: dict[str, float]
    failed: int
    noticed: dict[str, float]  # provider task id -> first "succeeded" answer
    shown: dict[str, float]  # task id -> status edited to "succeeded"
    provider_ids: dict[str, str]  # task id -> provider task id


class Report(BaseModel):
    """A line a bot writes to its stdout."""

    kind: Literal["ready", "delivered", "figures"]
    ids: list[str] = Field(default_factory=list)
    figures: Figures | None = None


@dataclasses.dataclass
class Clock:
    """When each task reached each milestone, in unix seconds."""

    noticed: dict[str, float] = dataclasses.field(default_factory=dict)
    succeeded: dict[str, float] = dataclasses.field(default_factory=dict)
    delivered: dict[str, float] = dataclasses.field(default_factory=dict)
    deliveries: Counter[str] = dataclasses.field(default_factory=Counter)
    provider_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    failed: int = 0
    unreported: list[str] = dataclasses.field(default_factory=list)


class TimingThread:
    """The chat surface: notes when a task was shown succeeded and delivered."""

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

    async def remove_video(self, task: Task) -> None:
        """Takedowns are not measured here."""

    async def post_error(self, task: Task, failure: Failure) -> None:
        self._clock.failed += 1
        self._finish(task)

    def _finish(self, task: Task) -> None:
        clock = self._clock
        if task.id not in clock.delivered:
            clock.delivered[task.id] = time.time()
            clock.unreported.append(task.id)
        clock.deliveries[task.id] += 1


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


def count_statements(store: object) -> Counter[str]:
    """Count each SQL statement the store runs, by its name in the store's
    ``Queries`` (both backends run them through ``_fetch``, ``_execute`` or
    ``_execute_apart``, so the figures compare like for like).

    Three paths run statements of their own and are counted as calls, named with
    ``()``: ``exclusive()`` (PostgreSQL: an advisory lock and unlock; SQLite: an
    asyncio lock), ``_reservation()`` (a transaction) and ``notices.publish()``
    (PostgreSQL: ``pg_notify``). The bench's PostgreSQL transaction count covers
    everything.
    """
    counts: Counter[str] = Counter()
    if not isinstance(store, SqlTaskStore):
        return counts
    names = {getattr(store.SQL, f.name): f.name for f in dataclasses.fields(store.SQL)}
    # PostgreSQL's ``_execute_apart`` is its ``_execute``: one statement, once.
    counting = contextvars.ContextVar("counting", default=False)

    def statement(
        run: Callable[[str, Sequence[Any]], Awaitable[Any]],
    ) -> Callable[[str, Sequence[Any]], Awaitable[Any]]:
        async def counted(sql: str, params: Sequence[Any]) -> Any:
            if counting.get():
                return await run(sql, params)
            counts[names.get(sql) or " ".join(sql.split()[:4])] += 1
            token = counting.set(True)
            try:
                return await run(sql, params)
            finally:
                counting.reset(token)

        return counted

    def call(name: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            counts[f"{name}()"] += 1
            return run(*args)

        return counted

    for method in ("_fetch", "_execute", "_execute_apart"):
        setattr(store, method, statement(getattr(store, method)))
    for method in ("exclusive", "_reservation"):
        setattr(store, method, call(method, getattr(store, method)))
    notices = store.notices
    notices.publish = call("notices.publish", notices.publish)  # type: ignore[method-assign]
    return counts


def sql_statements(counts: Counter[str]) -> int:
    """How many SQL statements ``count_statements`` saw (calls left out)."""
    return sum(n for name, n in counts.items() if is_statement(name))


def is_statement(name: str) -> bool:
    """Whether a ``count_statements`` name is one SQL statement (not a call)."""
    return not name.endswith("()")


def say(report: Report) -> None:
    sys.stdout.write(report.model_dump_json() + "\n")
    sys.stdout.flush()


async def commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


async def next_command(reader: asyncio.StreamReader) -> Command:
    line = await reader.readline()
    if not line:
        raise SystemExit("the bench closed this bot's stdin")
    return Command.model_validate_json(line)


async def report_deliveries(clock: Clock) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        if clock.unreported:
            ids, clock.unreported = clock.unreported, []
            say(Report(kind="delivered", ids=ids))


def _own_kb(field: str) -> int:
    return status_kb(os.getpid(), field)


async def run(config: BotConfig) -> Figures:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SORA_API_URL=config.simulator_url,
        SORA_API_KEY=SecretStr(SIM_KEY),
        SORA_API_DIALECT=config.dialect,
        DATABASE_URL=config.database_url,
        MEDIA_DIR=config.workdir / "media",
        HTTP_PORT=0,
        POLL_INTERVAL=config.poll_interval,
        TASK_DEADLINE=config.duration * 10 + 600,
        REPLICA_ID=config.replica_id,
    )
    clock = Clock()
    requests: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        requests[request.method] += 1

    reader = await commands()
    async with Runtime(settings) as runtime:
        runtime.http_client.event_hooks["request"].append(count)
        runtime.service.register_chat(OneThreadDirectory(TimingThread(clock)))
        note_completions(runtime.provider, clock)
        statements = count_statements(runtime.store)
        settle_heap()  # as ``sorabot run`` does once its adapters are attached
        await runtime.start()
        base_rss = _own_kb("VmRSS")
        say(Report(kind="ready"))

        order = await next_command(reader)
        progress = asyncio.create_task(report_deliveries(clock))
        await asyncio.sleep(max(0.0, order.at - time.time()))
        cpu0, wall0 = cpu_seconds(os.getpid()), time.time()
        submitted = []
        for n in range(order.first, config.tasks, order.step):
            if config.ramp:
                await asyncio.sleep(
                    max(0.0, order.at + n * config.ramp / config.tasks - time.time())
                )
            task = await runtime.service.submit(
                GenerationRequest(
                    prompt=f"bench task {n}",
                    requester=Requester(user_id=f"user{n}"),
                    chat=ChatRef(platform=Platform.CLI, workspace_id="bench"),
                )
            )
            submitted.append(task.id)
        cpu1, wall1, gets1 = cpu_seconds(os.getpid()), time.time(), requests["GET"]
        statements1 = sql_statements(statements)
        submitted_rss = _own_kb("VmRSS")
        tracked_after_submit = runtime.tracker.tracked

        # Steady state: everything in flight, nothing finished yet.
        steady = max(0.0, min(config.duration * 0.9 - (wall1 - wall0), 60.0))
        await asyncio.sleep(steady)
        cpu2, wall2, gets2 = cpu_seconds(os.getpid()), time.time(), requests["GET"]
        statements2 = sql_statements(statements)
        tracked_steady = runtime.tracker.tracked
        in_flight_rss = _own_kb("VmRSS")

        await next_command(reader)  # done: every task was delivered somewhere
        cpu3, wall3 = cpu_seconds(os.getpid()), time.time()
        peak = _own_kb("VmHWM")
        await next_command(reader)  # finish: the duplicates' grace is over
        progress.cancel()

    if clock.unreported:
        say(Report(kind="delivered", ids=clock.unreported))
    return Figures(
        replica_id=config.replica_id,
        submitted=submitted,
        submit_wall=wall1 - wall0,
        submit_cpu=cpu1 - cpu0,
        tracked_after_submit=tracked_after_submit,
        rss_base=base_rss,
        rss_submitted=submitted_rss,
        rss_in_flight=in_flight_rss,
        rss_peak=peak,
        cpu_total=cpu3 - cpu0,
        wall_total=wall3 - wall0,
        cpu_steady=cpu2 - cpu1,
        wall_steady=wall2 - wall1,
        tracked_steady=tracked_steady,
        # Every video's download is a GET too.
        status_queries=requests["GET"] - len(clock.succeeded),
        status_queries_steady=gets2 - gets1,
        creates_sent=requests["POST"],
        statements=dict(statements),
        statements_steady=statements2 - statements1,
        deliveries=dict(clock.deliveries),
        delivered_at=clock.delivered,
        failed=clock.failed,
        noticed=clock.noticed,
        shown=clock.succeeded,
        provider_ids=clock.provider_ids,
    )


def main() -> None:
    config = BotConfig.model_validate_json(sys.argv[1])
    figures = asyncio.run(run(config))
    say(Report(kind="figures", figures=figures))


if __name__ == "__main__":
    main()
