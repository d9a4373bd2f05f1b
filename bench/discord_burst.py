"""A steady stream of /sora interactions through the fake Discord gateway.

Three processes, as in production: the bot is a real ``sorabot run`` (discord.py
over a websocket and REST, SQLite file, tracker), the simulator is
``python -m bot.simulator`` in its own process, and this process plays Discord
(``tests.fakes.discord``: gateway, REST with Discord's rate limits, CDN) and the
members. Interactions are sent open loop at a fixed rate from many distinct members
(each may run only a few jobs) spread over many channels (Discord allows a channel
about one new message a second), and every job runs to its end (the MP4 in its
thread) in the main run.

    python bench/discord_burst.py                          # 100/s for 10 s + sweep
    python bench/discord_burst.py --rate 50 --seconds 5 --sweep ""

Prints p50/p99 time from the gateway dispatch to the interaction ack, REST calls
per job, 429s from the fake, the bot's peak RSS, and the highest swept rate whose
p99 ack stays under 1 s. Target: at 100/s, p99 ack under 250 ms and zero 429s.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    SIM_KEY,
    cpu_seconds,
    governance_env,
    peak_rss_mb,
    percentile,
    seed_server_words,
)
from bot.models import Platform  # noqa: E402
from tests.fakes.discord import FakeDiscord, FakeInteraction  # noqa: E402
from tests.fakes.discord_limits import DiscordError  # noqa: E402
from tests.fakes.provider import simulator_process  # noqa: E402


@dataclass
class Result:
    rate: float
    jobs: int
    acks: list[float]
    unacked: int
    delivered: int
    failed: int
    rest_calls: int
    by_route: Counter[str]
    rate_limited: Counter[str]
    scopes: Counter[str]
    invalid_token: int
    peak_rss_mb: float
    cpu_seconds: float
    load: float
    finish_seconds: float | None
    notes: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        return percentile(self.acks, p / 100)


async def start_bot(
    fake: FakeDiscord,
    sim_url: str,
    workdir: Path,
    poll: float,
    extra_env: dict[str, str],
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "MEDIA_DIR": str(workdir / "media"),
        "SORA_API_URL": sim_url,
        "SORA_API_KEY": SIM_KEY,
        "SORA_API_DIALECT": "openai",
        "POLL_INTERVAL": str(poll),
        "HTTP_PORT": "0",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(workdir / "bot.log").open("ab"),
    )


def count_429_scopes(fake: FakeDiscord) -> Counter[str]:
    """Tally each 429 the fake answers by its scope (global, or a route's bucket)."""
    scopes: Counter[str] = Counter()
    check = fake.limiter.check

    def counting(*args: Any, **kwargs: Any) -> dict[str, str]:
        try:
            return check(*args, **kwargs)
        except DiscordError as error:
            scopes[error.headers.get("X-RateLimit-Scope", "?")] += 1
            raise

    fake.limiter.check = counting  # type: ignore[method-assign]
    return scopes


def bot_log_errors(path: Path, keep: Path | None) -> list[str]:
    """The first error lines of the bot's stderr; the whole log copied to ``keep``."""
    log = path.read_text(errors="replace")
    if keep is not None:
        keep.write_text(log)
    return [n for n in log.splitlines() if "ERROR" in n or "Traceback" in n][:5]


def outcomes(fake: FakeDiscord, channels: list[str]) -> tuple[int, int]:
    """(videos delivered, failures explained) over every job's thread."""
    delivered = failed = 0
    for channel in channels:
        for status in fake.messages(channel):
            if status.thread_id is None:
                continue
            for post in fake.messages(status.thread_id):
                if post.attachments:
                    delivered += 1
                elif "No video" in post.content:
                    failed += 1
    return delivered, failed


async def send_at_rate(
    fake: FakeDiscord, rate: float, seconds: float, channels: list[str]
) -> list[FakeInteraction]:
    """Open loop: interaction ``i`` leaves at ``start + i / rate`` whatever happens."""
    total = int(rate * seconds)
    sends: list[asyncio.Task[FakeInteraction]] = []
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sends.append(
            asyncio.create_task(
                fake.send_slash(
                    "sora",
                    {"prompt": f"bench clip {i}: a lighthouse at dusk"},
                    user=f"member{i}",
                    channel_id=channels[i % len(channels)],
                )
            )
        )
    return list(await asyncio.gather(*sends))


async def run(
    rate: float,
    seconds: float,
    *,
    sim_url: str,
    channels: int,
    poll: float,
    finish_within: float | None,
    extra_env: dict[str, str],
    log_to: Path | None,
    governance: bool = False,
) -> Result:
    with tempfile.TemporaryDirectory(prefix="discord-burst-") as tmp:
        workdir = Path(tmp)
        async with FakeDiscord() as fake:
            names = [fake.add_channel(f"video-{n}") for n in range(channels)]
            scopes = count_429_scopes(fake)
            if governance:
                await seed_server_words(
                    workdir / "bench.db", Platform.DISCORD, fake.guild_id
                )
                extra_env = {**governance_env(), **extra_env}
            bot = await start_bot(fake, sim_url, workdir, poll, extra_env)
            try:
                await fake.wait_for_bot(timeout=60)
                first_call = len(fake.calls)
                load = os.getloadavg()[0]
                cpu_before = cpu_seconds(bot.pid)
                began = time.monotonic()
                inters = await send_at_rate(fake, rate, seconds, names)
                await asyncio.gather(
                    *(i.wait_acked(5.0) for i in inters), return_exceptions=True
                )
                finished = None
                delivered, failed = outcomes(fake, names)
                if finish_within is not None:
                    deadline = time.monotonic() + finish_within
                    while delivered + failed < len(inters):
                        if time.monotonic() > deadline:
                            break
                        await asyncio.sleep(1.0)
                        delivered, failed = outcomes(fake, names)
                    finished = time.monotonic() - began
                rss = peak_rss_mb(bot.pid)
                cpu = cpu_seconds(bot.pid) - cpu_before
            finally:
                bot.terminate()
                await bot.wait()
            calls = fake.calls[first_call:]
            routes = Counter(f"{c.method} {c.route}" for c in calls)
            notes = bot_log_errors(workdir / "bot.log", log_to)
            return Result(
                rate=rate,
                jobs=len(inters),
                acks=[i.ack_latency for i in inters if i.ack_latency is not None],
                unacked=sum(1 for i in inters if not i.acked),
                delivered=delivered,
                failed=failed,
                rest_calls=len(calls),
                by_route=routes,
                rate_limited=Counter(fake.rate_limited),
                scopes=scopes,
                invalid_token=fake.invalid_token_calls,
                peak_rss_mb=rss,
                cpu_seconds=cpu,
                load=load,
                finish_seconds=finished,
                notes=notes,
            )


def report(result: Result, *, detail: bool) -> None:
    ms = 1000
    print(
        f"rate {result.rate:>6.0f}/s  jobs {result.jobs:>5}  "
        f"ack p50 {result.percentile(50) * ms:7.1f} ms  "
        f"p99 {result.percentile(99) * ms:7.1f} ms  "
        f"max {max(result.acks, default=float('nan')) * ms:7.1f} ms  "
        f"unacked {result.unacked}  429s {sum(result.rate_limited.values())}  "
        f"peak RSS {result.peak_rss_mb:.0f} MB  "
        f"(machine load {result.load:.1f})"
    )
    if not detail:
        return
    print(
        f"  delivered {result.delivered}, failed {result.failed} of {result.jobs}"
        + (
            f" in {result.finish_seconds:.0f} s"
            if result.finish_seconds is not None
            else ""
        )
    )
    print(
        f"  bot CPU {result.cpu_seconds:.1f} s "
        f"({result.cpu_seconds / max(1, result.jobs) * 1000:.1f} ms per job)"
    )
    print(
        f"  REST calls per job {result.rest_calls / max(1, result.jobs):.2f} "
        f"({result.rest_calls} total, 401s from expired tokens "
        f"{result.invalid_token})"
    )
    for route, count in result.by_route.most_common():
        print(f"    {count / max(1, result.jobs):5.2f}/job  {route}")
    for route, count in result.rate_limited.most_common():
        print(f"  429 x{count}: {route}")
    if result.scopes:
        print(f"  429 scopes: {dict(result.scopes)}")
    for note in result.notes:
        print(f"  bot log: {note}")


async def main(args: argparse.Namespace) -> None:
    extra_env = dict(item.split("=", 1) for item in args.bot_env)
    async with simulator_process(args.duration, "--api-key", SIM_KEY) as simulator:
        sim_url = simulator.base_url
        print(
            f"simulator (own process) at {sim_url}, jobs take {args.duration} s; "
            f"{args.channels} channels, poll every {args.poll} s"
        )
        main_run = await run(
            args.rate,
            args.seconds,
            sim_url=sim_url,
            channels=args.channels,
            poll=args.poll,
            finish_within=args.finish_within,
            extra_env=extra_env,
            log_to=args.log_to,
            governance=args.governance,
        )
        report(main_run, detail=True)
        best = None
        for rate in [float(r) for r in args.sweep.split(",") if r.strip()]:
            step = await run(
                rate,
                args.sweep_seconds,
                sim_url=sim_url,
                channels=args.channels,
                poll=args.poll,
                finish_within=None,
                extra_env=extra_env,
                log_to=None,
                governance=args.governance,
            )
            report(step, detail=False)
            if step.percentile(99) >= 1.0 or step.unacked:
                break
            best = rate
        if args.sweep:
            print(f"highest swept rate with p99 ack < 1 s: {best or 'none'}/s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=4.0, help="job length")
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument(
        "--poll",
        type=float,
        default=2.0,
        help="POLL_INTERVAL (default 10 in production)",
    )
    parser.add_argument(
        "--finish-within", type=float, default=900.0, help="wait for every job"
    )
    parser.add_argument(
        "--sweep",
        default="200,400,600,800,1200,1600",
        help="comma-separated rates to step through (empty: no sweep)",
    )
    parser.add_argument("--sweep-seconds", type=float, default=3.0)
    parser.add_argument(
        "--governance",
        action="store_true",
        help="quotas, budgets, a price table and 1,000 blocked words (global and "
        "the server's own), none of them refusing",
    )
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra variable for the bot (e.g. PYTHONASYNCIODEBUG=1); repeatable",
    )
    parser.add_argument(
        "--log-to", type=Path, help="keep the main run's bot log (stderr) here"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
