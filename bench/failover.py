"""Failover under load: 1,000 jobs over two relays, the first dies part-way.

Two simulators run in their own process (``tests.fakes.provider``), configured as
``SORA_PROVIDERS`` p1 then p2. The bot side is the real ``Runtime`` (SQLite file,
shared HTTP client, tracker with its provider pool and circuit breakers) with a
chat surface that only notes times. After ``--die-after`` of the jobs have been
submitted, p1 stops listening (connections are refused) and never comes back.

    python bench/failover.py                  # 1,000 jobs over 30 s, p1 dies at 30 %
    python bench/failover.py --jobs 200 --ramp 10

Prints jobs delivered, duplicate creates (creates per job counted at both
simulators: must be 0), the jobs that failed over to p2, how many creates the bot
still tried at the dead p1 (before its circuit opened, and each cool-down's
trial), and the time to delivery the failover added (p50/p99, against the p50
of the jobs p1 delivered before it died). Jobs that were running at p1 when it
died cannot be fetched from anywhere; they fail at their deadline, plainly, and
are counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import SIM_KEY, OneThreadDirectory, percentile  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.models import (  # noqa: E402
    ChatRef,
    Failure,
    GenerationRequest,
    Platform,
    Requester,
    Task,
    VideoResult,
)
from bot.runtime import Runtime  # noqa: E402
from tests.fakes.provider import SimulatorsProcess, simulators_process  # noqa: E402


@dataclass
class Outcomes:
    """When each job was submitted and told, and by which provider."""

    expected: int
    submitted: dict[str, float] = field(default_factory=dict)
    told: dict[str, float] = field(default_factory=dict)
    provider: dict[str, str] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class TimingThread:
    def __init__(self, outcomes: Outcomes) -> None:
        self._outcomes = outcomes

    async def post_status(self, task: Task) -> ChatRef:
        return task.chat

    async def edit_status(self, task: Task) -> None:
        return None

    async def post_video(self, task: Task, video: VideoResult) -> None:
        self._outcomes.provider[task.id] = task.provider
        self._finish(task)

    async def post_error(self, task: Task, failure: Failure) -> None:
        self._outcomes.failures[failure.message[:70]] += 1
        self._finish(task)

    def _finish(self, task: Task) -> None:
        self._outcomes.told[task.id] = time.monotonic()
        if len(self._outcomes.told) >= self._outcomes.expected:
            self._outcomes.done.set()


async def run(args: argparse.Namespace, sims: SimulatorsProcess, workdir: Path) -> None:
    providers = [
        {"name": f"p{n}", "dialect": args.dialect, "url": url, "key": SIM_KEY}
        for n, url in enumerate(sims.urls, start=1)
    ]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SORA_PROVIDERS=json.dumps(providers),
        SORA_CREATE_TIMEOUT=args.create_timeout,
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        MEDIA_DIR=workdir / "media",
        HTTP_PORT=0,
        POLL_INTERVAL=args.poll_interval,
        TASK_DEADLINE=args.deadline,
        USER_CONCURRENCY_LIMIT=args.jobs,
    )
    outcomes = Outcomes(expected=args.jobs)
    creates_sent: Counter[str] = Counter()  # by host: tried, answered or not
    hosts = {httpx.URL(url).port: f"p{n}" for n, url in enumerate(sims.urls, 1)}

    async def count(request: httpx.Request) -> None:
        if request.method == "POST":
            creates_sent[hosts.get(request.url.port, "?")] += 1

    die_at = int(args.jobs * args.die_after)
    died_at = 0.0
    async with Runtime(settings) as runtime:
        runtime.http_client.event_hooks["request"].append(count)
        runtime.service.register_chat(OneThreadDirectory(TimingThread(outcomes)))
        await runtime.start()
        start = time.monotonic()
        for n in range(args.jobs):
            await asyncio.sleep(
                max(0.0, start + n * args.ramp / args.jobs - time.monotonic())
            )
            if n == die_at:
                await sims.refuse_connections(0)
                died_at = time.monotonic()
                p1_before = creates_sent["p1"]
            task = await runtime.service.submit(
                GenerationRequest(
                    prompt=f"failover job {n}",
                    requester=Requester(user_id=f"user{n % 50}"),
                    chat=ChatRef(platform=Platform.CLI, workspace_id="bench"),
                )
            )
            outcomes.submitted[task.id] = time.monotonic()
        await asyncio.wait_for(outcomes.done.wait(), timeout=args.deadline + 120)
        wall = time.monotonic() - start

    prompts = await sims.created_prompts()
    per_job = Counter(p for received in prompts for p in received)
    duplicates = sum(count - 1 for count in per_job.values() if count > 1)
    latency = {
        task_id: outcomes.told[task_id] - submitted
        for task_id, submitted in outcomes.submitted.items()
        if task_id in outcomes.provider
    }
    before = [
        latency[t]
        for t, name in outcomes.provider.items()
        if name == "p1" and outcomes.submitted[t] < died_at
    ]
    failed_over = [
        t
        for t, name in outcomes.provider.items()
        if name == "p2" and outcomes.submitted[t] >= died_at
    ]
    baseline = percentile(before, 0.5) if before else 0.0
    added = [latency[t] - baseline for t in failed_over]

    print(
        f"jobs: {args.jobs} over {args.ramp:.0f} s, {args.dialect} dialect, "
        f"{args.duration} s each, poll interval {args.poll_interval} s; p1 stopped "
        f"listening after job {die_at} ({died_at - start:.1f} s in); wall {wall:.1f} s"
    )
    print(f"jobs delivered: {len(outcomes.provider)} of {args.jobs}")
    print(f"duplicate creates (a job created more than once): {duplicates}")
    print(
        f"creates received: p1 {len(prompts[0])}, p2 {len(prompts[1])}; "
        f"jobs with no create anywhere: {args.jobs - len(per_job)}"
    )
    print(
        f"jobs that failed over to p2: {len(failed_over)}; creates the bot still "
        f"tried at the dead p1: {creates_sent['p1'] - p1_before} "
        "(the rest skipped it: circuit open)"
    )
    if added and before:
        print(
            f"added time to delivery for those: p50 {percentile(added, 0.5):.3f} s, "
            f"p99 {percentile(added, 0.99):.3f} s (baseline p50 {baseline:.2f} s "
            f"from {len(before)} jobs p1 delivered before it died)"
        )
    elif failed_over:
        print("no job was delivered by p1 before it died: no baseline to compare")
    for message, count in outcomes.failures.most_common():
        print(f"told, no video ({count}): {message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ramp", type=float, default=30.0, help="seconds to submit")
    parser.add_argument("--duration", type=float, default=2.0, help="s per job")
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--die-after", type=float, default=0.3, help="share of jobs")
    parser.add_argument("--create-timeout", type=float, default=10.0)
    parser.add_argument(
        "--deadline",
        type=float,
        default=20.0,
        help="TASK_DEADLINE: when jobs stranded at the dead p1 are given up",
    )
    parser.add_argument("--dialect", default="v2")
    args = parser.parse_args()
    # The circuit's changes of state, not every retry of a stranded job.
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    logging.getLogger("bot.providers.breaker").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="sorabot-failover-") as workdir:
        asyncio.run(_with_simulators(args, Path(workdir)))


async def _with_simulators(args: argparse.Namespace, workdir: Path) -> None:
    async with simulators_process(2, args.duration, api_key=SIM_KEY) as sims:
        await run(args, sims, workdir)


if __name__ == "__main__":
    main()
