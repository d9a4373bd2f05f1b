"""A steady stream of signed /sora commands at the Slack adapter, over HTTP.

The bot is a real ``sorabot run`` process in HTTP mode; the simulator runs in its
own process; this process plays Slack: it sends correctly signed slash commands at
a fixed rate (open loop: a slow bot does not slow the sender), from many distinct
users (each user may run only a few jobs), and serves the fake Slack Web API the
bot calls back. Every job runs to its end (the MP4 uploaded into its thread).

    python bench/slack_burst.py                      # 100/s for 10 s, then a sweep
    python bench/slack_burst.py --rate 50 --seconds 5 --sweep ""

Prints p50/p99 ack latency, the bot's peak RSS, Web API calls per job, 429s, and
the highest swept rate whose p99 ack stays under 1 s. Target: at 100 commands a
second, p99 ack under 250 ms (Slack allows 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    SIM_KEY,
    cpu_seconds,
    free_port,
    governance_env,
    peak_rss_mb,
    percentile,
    seed_server_words,
)
from bot.models import Platform  # noqa: E402
from tests.fakes.provider import simulator_process  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.slack_payloads import SIGNING_SECRET, signed_headers  # noqa: E402


@dataclass
class Bot:
    process: subprocess.Popen[bytes]
    url: str


@contextlib.asynccontextmanager
async def _bot(
    fake: FakeSlack, simulator_url: str, args: argparse.Namespace, workdir: Path
) -> AsyncIterator[Bot]:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "SLACK_UPDATES_PER_MINUTE": str(args.updates_per_minute),
        "SORA_API_URL": simulator_url,
        "SORA_API_KEY": SIM_KEY,
        "SORA_API_DIALECT": "openai",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "MEDIA_DIR": str(workdir / "media"),
        "POLL_INTERVAL": str(args.poll_interval),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    if args.governance:
        await seed_server_words(workdir / "bench.db", Platform.SLACK, fake.team_id)
        env.update(governance_env())
    with (workdir / "bot.log").open("ab") as log:
        profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        # A handle is all we need (ASYNC220); the arguments are our own (S603).
        process = subprocess.Popen(  # noqa: ASYNC220, S603
            [sys.executable, *profile, "-m", "bot", "run"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        break
            if process.poll() is not None:
                raise SystemExit(f"the bot exited; see {workdir / 'bot.log'}")
            await asyncio.sleep(0.05)
    try:
        yield Bot(process, f"{base}/slack/events")
    finally:
        process.terminate()
        process.wait(15)


def _fields(base_url: str, team_id: str, i: int, run: int) -> dict[str, str]:
    """A /sora command from its own user (each user may run only a few jobs)."""
    return {
        "team_id": team_id,
        "channel_id": f"C{i % 50:04d}",  # Slack posts 1 message/s per channel
        "user_id": f"U{run:02d}{i:06d}",
        "user_name": f"user{i}",
        "command": "/sora",
        "text": f"bench corgi {i}",
        "api_app_id": "A0SORA",
        "response_url": f"{base_url}/response/bench-{run}-{i}",
        "trigger_id": f"{run}.{i}.{time.time_ns()}",
    }


async def _send_all(
    url: str, base_url: str, team_id: str, rate: float, seconds: float, run: int
) -> list[float]:
    total = int(rate * seconds)
    latencies: list[float] = []
    failures: Counter[int] = Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(i: int) -> None:
            body = urlencode(_fields(base_url, team_id, i, run))
            headers = signed_headers(body)
            started = time.perf_counter()
            async with http.post(url, data=body.encode(), headers=headers) as r:
                await r.read()
                if r.status != 200:
                    failures[r.status] += 1
            latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    if failures:
        print(f"  non-200 acks: {dict(failures)}")
    return latencies


def _loadgen(*args: object) -> list[float]:
    return asyncio.run(_send_all(*args))  # type: ignore[arg-type]


async def _fire(
    fake: FakeSlack, url: str, rate: float, seconds: float, run: int
) -> list[float]:
    """Send signed commands on schedule from a separate process; return latencies.

    A process of its own, so the fake Slack's work in this one never delays the
    moment a response is read: the latencies are the bot's.
    """
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return await loop.run_in_executor(
            pool, _loadgen, url, fake.base_url, fake.team_id, rate, seconds, run
        )


async def main_run(args: argparse.Namespace, simulator_url: str) -> None:
    total = int(args.rate * args.seconds)
    async with FakeSlack() as fake, contextlib.AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bot = await stack.enter_async_context(_bot(fake, simulator_url, args, workdir))
        print(
            f"{args.rate:g} commands/s for {args.seconds:g} s ({total} jobs; "
            f"simulated jobs take {args.sim_duration:g} s, polled every "
            f"{args.poll_interval:g} s)"
        )
        started = time.perf_counter()
        latencies = await _fire(fake, bot.url, args.rate, args.seconds, 0)
        await fake.wait_for(
            "files.completeUploadExternal", count=total, within=args.finish_within
        )
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(bot.process.pid)
        cpu = cpu_seconds(bot.process.pid)
        calls = Counter(c.method for c in fake.calls)
    print(
        f"  ack latency   p50 {_ms(statistics.median(latencies))}"
        f"  p99 {_ms(percentile(latencies, 0.99))}"
        f"  max {_ms(max(latencies))}"
    )
    print(f"  all {total} videos in their threads after {elapsed:.1f} s")
    per_job_ms = cpu / total * 1000
    print(f"  bot peak RSS  {rss:.0f} MB, CPU {cpu:.1f} s ({per_job_ms:.1f} ms/job)")
    per_job = sum(calls.values()) / total
    print(
        f"  Web API calls per job {per_job:.2f}: "
        + ", ".join(
            f"{method} {count / total:.2f}" for method, count in calls.most_common()
        )
    )
    print(f"  429s from the fake Slack: {fake.rate_limited}")


async def sweep(args: argparse.Namespace, simulator_url: str) -> None:
    rates = [float(r) for r in args.sweep.split(",") if r.strip()]
    best = None
    print(f"sweep ({args.sweep_seconds:g} s per rate, fresh bot each):")
    for run, rate in enumerate(rates, start=1):
        async with FakeSlack() as fake, contextlib.AsyncExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            bot = await stack.enter_async_context(
                _bot(fake, simulator_url, args, workdir)
            )
            latencies = await _fire(fake, bot.url, rate, args.sweep_seconds, run)
        p99 = percentile(latencies, 0.99)
        print(f"  {rate:6g}/s  p50 {_ms(statistics.median(latencies))}  p99 {_ms(p99)}")
        if p99 >= 1.0:
            break
        best = rate
    print(
        f"highest swept rate with p99 ack < 1 s: {best:g}/s"
        if best
        else "no swept rate kept p99 ack under 1 s"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


async def amain(args: argparse.Namespace) -> None:
    async with simulator_process(args.sim_duration, "--api-key", SIM_KEY) as simulator:
        simulator_url = simulator.base_url
        if args.seconds > 0:
            await main_run(args, simulator_url)
        if args.sweep:
            await sweep(args, simulator_url)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100, help="commands per second")
    parser.add_argument("--seconds", type=float, default=10, help="0 skips the run")
    parser.add_argument("--sim-duration", type=float, default=3.0)
    parser.add_argument(
        "--poll-interval", type=float, default=10.0, help="the bot's POLL_INTERVAL"
    )
    parser.add_argument(
        "--updates-per-minute",
        type=float,
        default=40,
        help="the bot's chat.update budget (SLACK_UPDATES_PER_MINUTE)",
    )
    parser.add_argument("--finish-within", type=float, default=300)
    parser.add_argument("--sweep", default="100,200,400,600,800")
    parser.add_argument("--sweep-seconds", type=float, default=5)
    parser.add_argument("--profile", help="write the bot's cProfile stats here")
    parser.add_argument(
        "--governance",
        action="store_true",
        help="quotas, budgets, a price table and 1,000 blocked words (global and "
        "the workspace's own), none of them refusing",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(amain(parse_args()))
