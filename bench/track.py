"""How the core tracks N concurrent tasks: memory, CPU, queries, lag, per backend.

Every measured bot is the real ``Runtime`` (shared httpx client, tracker, service,
store) with a chat surface that only notes times, in a process of its own
(``bench/_track_bot.py``); the simulator runs in another (``tests.fakes.provider``),
so each figure below is one process's alone. Run from the checkout's root.

    python bench/track.py                       # 10,000 tasks, 10 s poll interval
    python bench/track.py --tasks 1000 --poll-interval 2 --duration 20
    python bench/track.py --ramp 60     # submissions spread over a minute
    python bench/track.py --database sqlite \\
        --database postgresql://postgres@127.0.0.1:5432/postgres --replicas 1,2

``--database`` may be given several times; the runs happen one after another in
that order and are printed side by side at the end, each run's CPU as a ratio of
the first's. ``sqlite`` (the default) is a new SQLite file. A PostgreSQL URL names
a server and a database to connect to: each run creates a database of its own
there (``sorabot_bench_<random>``) and drops it afterwards, so runs never see each
other's rows. ``--replicas 1,2`` measures each PostgreSQL database once with one
bot and once with two bot processes (each its own ``REPLICA_ID``) sharing the same
tasks: task n is submitted at replica n mod 2, as a load balancer would send
them, and the leases decide who carries it.

Each run reports per bot: RSS growth, CPU (whole run and while everything is in
flight), status queries per task per poll interval, SQL statements per task (by
statement, counted where the store runs them, on both backends) and, on
PostgreSQL, transactions per task (``pg_stat_database``; every statement outside
an explicit transaction is one) and the server backends' CPU. For all bots
together: the noticed-finished lag against the poll interval, and duplicates:
tasks the simulator received no create or several creates for, and tasks
delivered never or more than once across every replica (both must be 0).

Targets: 10,000 in flight with peak RSS growth <= 100 MB, average CPU <= 0.5 core
while polling at a 10 s interval, every task noticed complete within one poll
interval of finishing at the simulator; on PostgreSQL, within 1.5x of SQLite's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import get_args
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import SIM_KEY, cpu_seconds  # noqa: E402
from bench._track_bot import BotConfig, Command, Figures, Report  # noqa: E402
from bench._track_report import Run, block, table  # noqa: E402
from bot.config import Dialect  # noqa: E402
from bot.storage.postgres import where  # noqa: E402
from tests.backends import with_database  # noqa: E402
from tests.fakes.provider import simulators_process  # noqa: E402

SQLITE = "sqlite"
# A bot's figures are one JSON line of a few MB at 10,000 tasks.
REPORT_LIMIT = 1 << 28


class Bot:
    """One ``_track_bot.py`` process: commands in, reports out."""

    def __init__(self, process: asyncio.subprocess.Process, delivered: set[str]):
        self._process = process
        self._delivered = delivered
        self.pid = process.pid
        self.ready = asyncio.Event()
        self.figures: Figures | None = None
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, config: BotConfig, delivered: set[str]) -> Bot:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("_track_bot.py")),
            config.model_dump_json(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT,
        )
        return cls(process, delivered)

    async def _read(self) -> None:
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            report = Report.model_validate_json(line)
            if report.kind == "ready":
                self.ready.set()
            elif report.kind == "delivered":
                self._delivered.update(report.ids)
            else:
                self.figures = report.figures

    @property
    def running(self) -> bool:
        return not self._reading.done()

    async def wait_ready(self) -> None:
        waiting = asyncio.create_task(self.ready.wait())
        await asyncio.wait(
            {waiting, self._reading}, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
        if not self.ready.is_set():
            raise RuntimeError(f"bot {self.pid} exited before it was ready")

    async def send(self, command: Command) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(command.model_dump_json().encode() + b"\n")
        await self._process.stdin.drain()

    async def finish(self) -> Figures:
        await self.send(Command(kind="finish"))
        await self._reading
        await self._process.wait()
        if self.figures is None:
            raise RuntimeError(f"bot {self.pid} exited without its figures")
        return self.figures

    def kill(self) -> None:
        if self._process.returncode is None:
            self._process.kill()


class Postgres:
    """A database of the run's own on the server ``admin_url`` reaches, and the
    server's figures about it, read over the admin connection (so the probe's
    own transactions are not counted)."""

    def __init__(self, admin: asyncpg.Connection, name: str, url: str) -> None:
        self._admin = admin
        self.name = name
        self.url = url

    @classmethod
    @contextlib.asynccontextmanager
    async def fresh(cls, admin_url: str) -> AsyncIterator[Postgres]:
        name = f"sorabot_bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(admin_url, timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                yield cls(admin, name, with_database(admin_url, name))
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def transactions(self) -> int:
        value = await self._admin.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = $1",
            self.name,
        )
        return int(value or 0)

    async def backend_cpu(self) -> dict[int, float] | None:
        """CPU seconds of each server process connected to the database; None
        when the server is not on this machine (its /proc is not ours)."""
        pids = await self._admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.name
        )
        found: dict[int, float] = {}
        for row in pids:
            try:
                found[row["pid"]] = cpu_seconds(row["pid"])
            except (FileNotFoundError, PermissionError):
                if urlsplit(self.url).hostname not in ("127.0.0.1", "localhost"):
                    return None
        return found


async def measure(
    args: argparse.Namespace, database: str, replicas: int, workdir: Path
) -> Run:
    """One run: a fresh simulator and database, ``replicas`` bots sharing the
    tasks, until every task was delivered and one more poll interval passed (a
    duplicate delivery would show up by then)."""
    label = "SQLite" if database == SQLITE else "PostgreSQL"
    if replicas > 1:
        label += f" x{replicas}"
    async with (
        simulators_process(1, args.duration, api_key=SIM_KEY) as simulator,
        contextlib.AsyncExitStack() as stack,
    ):
        postgres: Postgres | None = None
        if database == SQLITE:
            url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            postgres = await stack.enter_async_context(Postgres.fresh(database))
            url = postgres.url
        delivered: set[str] = set()
        bots: list[Bot] = []
        for n in range(replicas):
            replica_id = f"bench-{n + 1}"
            config = BotConfig(
                database_url=url,
                simulator_url=simulator.urls[0],
                workdir=workdir / replica_id,
                tasks=args.tasks,
                poll_interval=args.poll_interval,
                duration=args.duration,
                dialect=args.dialect,
                ramp=args.ramp,
                replica_id=replica_id,
            )
            bots.append(await Bot.start(config, delivered))
            stack.callback(bots[-1].kill)
        # The first one migrates the database; the others find it current.
        await asyncio.gather(*(bot.wait_ready() for bot in bots))

        sim0 = cpu_seconds(simulator.pid)
        load0 = os.getloadavg()[0]
        transactions0 = await postgres.transactions() if postgres else 0
        backends0 = await postgres.backend_cpu() if postgres else None
        at = time.time() + 1.0  # every replica starts submitting at once
        for n, bot in enumerate(bots):
            await bot.send(Command(kind="submit", first=n, step=replicas, at=at))
        deadline = at + args.duration * 5 + 300 + args.ramp
        while len(delivered) < args.tasks and time.time() < deadline:
            if not all(bot.running for bot in bots):
                raise RuntimeError("a bot exited before every task was delivered")
            await asyncio.sleep(0.2)
        timed_out = len(delivered) < args.tasks
        for bot in bots:
            await bot.send(Command(kind="done"))
        backends1 = await postgres.backend_cpu() if postgres else None
        sim1 = cpu_seconds(simulator.pid)
        load1 = os.getloadavg()[0]
        await asyncio.sleep(args.poll_interval)
        figures = list(await asyncio.gather(*(bot.finish() for bot in bots)))
        postgres_cpu: float | None = None
        transactions: int | None = None
        if postgres is not None:
            # A backend's last counts reach the statistics when it exits.
            await asyncio.sleep(1.0)
            transactions = await postgres.transactions() - transactions0
            if backends0 is not None and backends1 is not None:
                postgres_cpu = sum(
                    spent - backends0.get(pid, 0.0) for pid, spent in backends1.items()
                )
        [prompts] = await simulator.created_prompts()
    return Run(
        label=label,
        tasks=args.tasks,
        poll_interval=args.poll_interval,
        duration=args.duration,
        dialect=args.dialect,
        bots=figures,
        creates=Counter(prompts),
        simulator_cpu=sim1 - sim0,
        load_start=load0,
        load_end=load1,
        cpus=os.cpu_count() or 1,
        postgres_transactions=transactions,
        postgres_cpu=postgres_cpu,
        timed_out=timed_out,
    )


def setups(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(database, replicas) for each run, in order; SQLite serves one process."""
    found = []
    for database in args.database or [SQLITE]:
        if database != SQLITE and not database.startswith(("postgresql:", "postgres:")):
            raise SystemExit(f"--database {database!r}: 'sqlite' or a PostgreSQL URL")
        for replicas in [1] if database == SQLITE else args.replicas:
            found.append((database, replicas))
    return found


async def main_async(args: argparse.Namespace) -> None:
    runs = []
    for database, replicas in setups(args):
        shown = "a new SQLite file" if database == SQLITE else where(database)
        print(f"-- measuring on {shown} with {replicas} bot process(es) ...")
        with tempfile.TemporaryDirectory(prefix="sorabot-bench-") as workdir:
            run = await measure(args, database, replicas, Path(workdir))
        print(block(run), flush=True)
        runs.append(run)
    if len(runs) > 1:
        print()
        print(table(runs))


def replica_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError("replica counts are 1 or more")
    return counts


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
    parser.add_argument("--dialect", default="openai", choices=get_args(Dialect))
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="spread the submissions over this many seconds (0: all at once)",
    )
    parser.add_argument(
        "--database",
        action="append",
        help="'sqlite' (the default: a new file) or a PostgreSQL URL whose server "
        "gets a new database per run; give it several times to compare",
    )
    parser.add_argument(
        "--replicas",
        type=replica_counts,
        default=[1],
        help="bot processes sharing each PostgreSQL database, e.g. 1,2 for a run "
        "with one and a run with two (default 1)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
