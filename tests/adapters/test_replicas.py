"""Two ``sorabot run`` replicas on one PostgreSQL database: when one is killed mid-run
the other takes its jobs over, and every job is still created once at the provider
and delivered once, in its own thread.

Each replica serves Slack over HTTP on its own port and one of two Discord shards;
the fake Discord has a server on each shard, so each replica receives the
interactions of one. Both share the fake Slack, the fake Discord and one simulator
process, as two hosts would share the real ones, and one media directory, as the
documented setup's replicas share a volume. The replicas are real subprocesses
configured only through their environment; the test reads the tasks table to see
who holds which task.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import aiohttp
import asyncpg
import pytest

from adapters.slack import EVENTS_PATH
from bot.web import READY_PATH
from tests.backends import Backend
from tests.fakes.bot_process import BotProcess, free_port
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider import SimulatorsProcess, simulators_process
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import SAMPLE_MP4, SIM_KEY, status_messages
from tests.fakes.slack_payloads import (
    CHANNEL,
    SIGNING_SECRET,
    HttpDelivery,
    slash_command,
)

pytestmark = pytest.mark.e2e

LEASE_TIME = 3.0
POLL_INTERVAL = 1.0
# A dead replica's leases run out at most LEASE_TIME after they were last renewed,
# and the survivor's lease keeper looks at least once every POLL_INTERVAL. Beyond
# that, two bots and the test share a busy 2-core machine (CI's too): a keeper run
# or the test's own reading of the table may start this many seconds late.
SCHEDULING_SLACK = 1.5
# Seconds a simulated job takes: every job is still generating when a replica is
# killed (sending all of them takes a few seconds), and the run stays short.
SIM_DURATION = 7.0
JOBS_PER_PLATFORM = 25
# Within these, everything has happened or it never will.
IN_FLIGHT_WITHIN = 30.0
DELIVERED_WITHIN = 45.0
TAKEOVER_WITHIN = 30.0
# The states in which a task is someone's to carry on (see bot/ports.py).
TRACKED = ["received", "submitted", "running", "succeeded", "failed"]
# (id >> 22) % 2: the first server is on shard 0, the second on shard 1.
GUILD_ON_SHARD = {0: "1100000000004194306", 1: "1100000000000000002"}
# Discord lets a bot post 5 messages per 5 s in a channel: with at most 4 jobs in
# each, no status message waits for the next window.
CHANNELS_PER_SERVER = 4


class Once(NamedTuple):
    """What one job came to: creates at the provider, status messages, videos in
    their threads, and anything else posted there (a failure message, say)."""

    creates: int
    statuses: int
    videos: int
    others: int


EXACTLY_ONCE = Once(creates=1, statuses=1, videos=1, others=0)


@dataclass
class Cluster:
    """The shared world two replicas run in, and how the test reads it."""

    slack: FakeSlack
    discord: FakeDiscord
    # The text channels of the server on each shard.
    channels: dict[int, list[str]]
    simulator: SimulatorsProcess
    backend: Backend
    # The test's own connections (the takeover is watched while jobs finish).
    db: asyncpg.Pool
    tmp_path: Path
    replicas: list[BotProcess] = field(default_factory=list)

    def replica(self, name: str, shard: int) -> BotProcess:
        """Replica ``name``, running Discord shard ``shard`` of two."""
        env = {
            "DATABASE_URL": self.backend.url,
            "REPLICA_ID": name,
            "LEASE_TIME": str(LEASE_TIME),
            "POLL_INTERVAL": str(POLL_INTERVAL),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(free_port()),
            # Shared, as in the documented setup (a volume both mount).
            "MEDIA_DIR": str(self.tmp_path / "media"),
            "LOG_LEVEL": "INFO",
            "SORA_API_URL": self.simulator.urls[0],
            "SORA_API_KEY": SIM_KEY,
            "SORA_API_DIALECT": "openai",
            # One member sends every job: none of them waits in line.
            "USER_CONCURRENCY_LIMIT": str(2 * JOBS_PER_PLATFORM),
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_API_URL": self.slack.api_url,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_UPDATES_PER_MINUTE": "1200",
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD_API_URL": self.discord.api_url,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "DISCORD_SHARD_COUNT": str(len(GUILD_ON_SHARD)),
            "DISCORD_SHARD_IDS": str(shard),
        }
        workdir = self.tmp_path / name
        workdir.mkdir(exist_ok=True)
        replica = BotProcess(env, workdir / "bot.log", workdir)
        self.replicas.append(replica)
        return replica

    @contextlib.asynccontextmanager
    async def running(self, *replicas: BotProcess) -> AsyncIterator[None]:
        """The replicas, ready (database, Slack, their Discord shard) and with the
        commands synced; every replica stopped at the end (SIGTERM: whatever
        one posts, it has posted once it has exited)."""
        try:
            await asyncio.gather(*(r.start(READY_PATH) for r in replicas))
            await self.discord.wait_until(lambda: self.discord.sync_count > 0)
            yield
        finally:
            for replica in self.replicas:
                await replica.stop()

    async def send_jobs(self, *replicas: BotProcess) -> list[str]:
        """Half the jobs as Slack slash commands spread over the replicas' HTTP
        ports, half as Discord ``/sora`` in the servers of both shards; returns
        their prompts once every one is acknowledged."""

        async def slack_jobs(session: aiohttp.ClientSession) -> list[str]:
            prompts = []
            for n in range(JOBS_PER_PLATFORM):
                replica = replicas[n % len(replicas)]
                delivery = HttpDelivery(replica.base_url + EVENTS_PATH, session)
                prompt = f"slack job {n:02d}: a heron"
                ack = await delivery.command(slash_command(self.slack, prompt))
                assert ack.status == 200, (prompt, ack)
                prompts.append(prompt)
            return prompts

        async def discord_jobs() -> list[str]:
            prompts, sent = [], []
            for n in range(JOBS_PER_PLATFORM):
                server = self.channels[n % len(self.channels)]
                channel = server[n // len(self.channels) % len(server)]
                prompt = f"discord job {n:02d}: a heron"
                sent.append(
                    await self.discord.send_slash(
                        "sora", {"prompt": prompt}, channel_id=channel
                    )
                )
                prompts.append(prompt)
            await self.discord.wait_until(lambda: all(i.deferred for i in sent))
            return prompts

        async with aiohttp.ClientSession() as session:
            slack, discord = await asyncio.gather(slack_jobs(session), discord_jobs())
        return slack + discord

    async def all_in_flight(self, count: int) -> None:
        """Until ``count`` tasks exist and every create has been answered: from here
        on, no replica is unsure whether a job reached the provider."""
        async with asyncio.timeout(IN_FLIGHT_WITHIN):
            while True:
                created = await self.db.fetchval(
                    "SELECT count(*) FROM tasks WHERE provider_task_id IS NOT NULL"
                )
                if created >= count:
                    return
                await asyncio.sleep(0.1)

    async def held_by(self, holder: str) -> list[str]:
        """The tasks ``holder`` holds that are still someone's to carry on."""
        rows = await self.db.fetch(
            "SELECT id FROM tasks WHERE lease_holder = $1 AND state = ANY($2::text[])",
            holder,
            TRACKED,
        )
        return [row["id"] for row in rows]

    async def takeover(self, held: Sequence[str], survivor: str, since: float) -> float:
        """Seconds from ``since`` until ``survivor`` holds every task in ``held``
        (or has already finished it)."""
        left: list[tuple[str, str | None, str]] = []
        try:
            async with asyncio.timeout(TAKEOVER_WITHIN):
                while True:
                    rows = await self.db.fetch(
                        "SELECT id, lease_holder, state FROM tasks "
                        "WHERE id = ANY($1::text[])",
                        held,
                    )
                    left = [
                        (r["id"], r["lease_holder"], r["state"])
                        for r in rows
                        if r["lease_holder"] != survivor and r["state"] in TRACKED
                    ]
                    if not left:
                        return time.monotonic() - since
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"not taken over by {survivor}: {left}") from None

    async def all_delivered(self, count: int) -> None:
        """Until ``count`` tasks are delivered (the member told the outcome)."""
        try:
            async with asyncio.timeout(DELIVERED_WITHIN):
                while True:
                    delivered = await self.db.fetchval(
                        "SELECT count(*) FROM tasks WHERE state = 'delivered'"
                    )
                    if delivered >= count:
                        return
                    await asyncio.sleep(0.1)
        except TimeoutError:
            rows = await self.db.fetch(
                "SELECT request->>'prompt', state, lease_holder FROM tasks "
                "WHERE state <> 'delivered' ORDER BY 1"
            )
            undelivered = [tuple(r) for r in rows]
            raise AssertionError(f"not delivered: {undelivered}") from None

    async def outcomes(self, prompts: Sequence[str]) -> dict[str, Once]:
        """Per prompt: creates the simulator received and what its members saw."""
        [created] = await self.simulator.created_prompts()
        creates = collections.Counter(created)
        return {
            prompt: Once(
                creates[prompt],
                *(
                    self._in_slack(prompt)
                    if prompt.startswith("slack")
                    else self._in_discord(prompt)
                ),
            )
            for prompt in prompts
        }

    def _in_slack(self, prompt: str) -> tuple[int, int, int]:
        """Status messages, videos in their threads, other replies there."""
        shown = [
            m for m in status_messages(self.slack, CHANNEL) if prompt in str(m.blocks)
        ]
        replies = [
            m
            for s in shown
            for m in self.slack.thread_messages(CHANNEL, s.ts)
            if m.ts != s.ts
        ]
        files = {f["id"] for m in replies for f in m.files}
        sample = SAMPLE_MP4.read_bytes()
        videos = [
            f for f in self.slack.uploaded_files if f.id in files and f.data == sample
        ]
        return len(shown), len(videos), len([m for m in replies if not m.files])

    def _in_discord(self, prompt: str) -> tuple[int, int, int]:
        """Status messages, videos in their threads, other posts there."""
        shown = [
            m
            for channels in self.channels.values()
            for channel in channels
            for m in self.discord.messages(channel)
            if m.author["id"] == self.discord.bot_user["id"]
            and m.embeds
            and prompt in m.embeds[0].get("description", "")
        ]
        posts = [
            m for s in shown if s.thread_id for m in self.discord.messages(s.thread_id)
        ]
        sample = SAMPLE_MP4.read_bytes()
        videos = [m for m in posts if self.discord.attachment_bytes(m) == [sample]]
        return len(shown), len(videos), len(posts) - len(videos)


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_backend: Backend
) -> AsyncIterator[Cluster]:
    """The fakes, the simulator and a fresh database; the replicas' logs are
    shown with a failure."""
    # Many status edits at once: Slack's own limit would only make the test slow.
    async with (
        FakeSlack(tier3_per_minute=10_000) as slack,
        FakeDiscord(guild_id=GUILD_ON_SHARD[1]) as discord,
        simulators_process(1, SIM_DURATION, api_key=SIM_KEY) as simulator,
    ):
        channels = {1: [discord.channel_id], 0: [discord.add_guild(GUILD_ON_SHARD[0])]}
        for shard, guild_id in GUILD_ON_SHARD.items():
            while len(channels[shard]) < CHANNELS_PER_SERVER:
                name = f"general-{len(channels[shard])}"
                channels[shard].append(discord.add_channel(name, guild_id=guild_id))
        db = await asyncpg.create_pool(postgres_backend.url, min_size=2, max_size=2)
        world = Cluster(
            slack, discord, channels, simulator, postgres_backend, db, tmp_path
        )
        try:
            yield world
        finally:
            await db.close()
            for replica in world.replicas:
                name = f"replica {replica.env['REPLICA_ID']}"
                request.node.add_report_section("teardown", name, replica.output())


def not_once(outcomes: dict[str, Once]) -> dict[str, Once]:
    return {prompt: once for prompt, once in outcomes.items() if once != EXACTLY_ONCE}


async def test_a_killed_replicas_jobs_are_taken_over_and_each_delivered_once(
    cluster: Cluster,
):
    a, b = cluster.replica("a", shard=0), cluster.replica("b", shard=1)
    async with cluster.running(a, b):
        prompts = await cluster.send_jobs(a, b)
        await cluster.all_in_flight(len(prompts))

        killed_at = time.monotonic()
        await a.kill()
        held = await cluster.held_by("a")
        # Measured alongside: jobs never delivered is the clearer failure, so
        # that is awaited first.
        takeover = asyncio.create_task(cluster.takeover(held, "b", killed_at))
        try:
            await cluster.all_delivered(len(prompts))
            taken_after = await takeover
        finally:
            takeover.cancel()

    assert len(prompts) == 2 * JOBS_PER_PLATFORM
    assert held, "replica a held no task when it was killed"
    assert not_once(await cluster.outcomes(prompts)) == {}
    assert taken_after <= LEASE_TIME + POLL_INTERVAL + SCHEDULING_SLACK


async def test_each_job_is_delivered_once_when_the_survivor_restarts_too(
    cluster: Cluster,
):
    a, b = cluster.replica("a", shard=0), cluster.replica("b", shard=1)
    async with cluster.running(a, b):
        prompts = await cluster.send_jobs(a, b)
        await cluster.all_in_flight(len(prompts))

        killed_at = time.monotonic()
        await a.kill()
        held_by_a = await cluster.held_by("a")
        # Killed well within a's lease (renewed a keeper period ago at most), so b
        # dies holding its own tasks only. It comes back under its REPLICA_ID: it
        # gives up the leases its previous process left, and carries on those
        # tasks and, once a's leases run out, a's.
        await b.kill()
        left_by_a = await cluster.held_by("a")
        held_by_b = await cluster.held_by("b")
        takeover = asyncio.create_task(cluster.takeover(held_by_a, "b", killed_at))
        try:
            await b.start(READY_PATH)
            restarted_after = time.monotonic() - killed_at
            await cluster.all_delivered(len(prompts))
            taken_after = await takeover
        finally:
            takeover.cancel()

    assert held_by_a, "replica a held no task when it was killed"
    assert held_by_b, "replica b held no task when it was killed"
    assert sorted(left_by_a) == sorted(held_by_a)
    assert not_once(await cluster.outcomes(prompts)) == {}
    # a's leases ran out LEASE_TIME after its kill at the latest, and b leases
    # from the moment it is up again.
    limit = max(LEASE_TIME, restarted_after) + POLL_INTERVAL + SCHEDULING_SLACK
    assert taken_after <= limit
