"""The usage ledger on both backends: counting and reserving are one transaction."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Platform
from bot.ports import TaskStore, UsageClaim, UsageQuery, UsageTotals
from bot.storage.sqlite import MIGRATIONS, SqliteTaskStore
from tests.backends import Backend

NOW = datetime(2026, 5, 17, 15, 0, tzinfo=UTC)
QUERY = UsageQuery(
    platform=Platform.DISCORD,
    workspace_id="g1",
    user_id="ann",
    day_start=datetime(2026, 5, 17, tzinfo=UTC),
    month_start=datetime(2026, 5, 1, tzinfo=UTC),
)


def claim(
    task_id: str, *, user: str = "ann", cost: int = 0, at: datetime = NOW
) -> UsageClaim:
    return UsageClaim(
        task_id=task_id,
        platform=Platform.DISCORD,
        workspace_id="g1",
        user_id=user,
        cost_micros=cost,
        at=at,
    )


def at_most(videos: int):  # type: ignore[no-untyped-def]
    def decide(totals: UsageTotals) -> str | None:
        return "full" if totals.server_day_videos >= videos else None

    return decide


async def test_totals_count_only_this_period_and_not_refunded_entries(
    store: TaskStore,
) -> None:
    for task_id, user, cost, at in [
        ("a", "ann", 100, NOW),
        ("b", "bob", 200, NOW),
        ("c", "ann", 400, NOW - timedelta(days=1)),  # yesterday, this month
        ("d", "ann", 800, NOW - timedelta(days=30)),  # last month
        ("e", "ann", 1600, NOW),
    ]:
        await store.reserve_usage(
            claim(task_id, user=user, cost=cost, at=at), QUERY, at_most(99)
        )
    assert await store.refund_usage("e", "moderation", NOW)
    assert not await store.refund_usage("e", "moderation", NOW)  # once only

    assert await store.usage_totals(QUERY) == UsageTotals(
        user_day_videos=1,
        server_day_videos=2,
        server_day_micros=300,
        server_month_micros=700,
    )


async def test_a_refused_claim_is_not_recorded(store: TaskStore) -> None:
    assert await store.reserve_usage(claim("a"), QUERY, at_most(1)) is None

    assert await store.reserve_usage(claim("b"), QUERY, at_most(1)) == "full"
    assert (await store.usage_totals(QUERY)).server_day_videos == 1
    assert not await store.refund_usage("b", "error", NOW)


async def test_a_hundred_concurrent_claims_over_four_connections_never_exceed_the_cap(
    backend: Backend,
) -> None:
    """Four stores stand for four processes on one database (SQLite's BEGIN
    IMMEDIATE, PostgreSQL's lock per server)."""
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(backend.open()) for _ in range(4)]
        results = await asyncio.gather(
            *(
                stores[n % 4].reserve_usage(claim(f"t{n}"), QUERY, at_most(10))
                for n in range(100)
            )
        )
    [(rows,)] = await backend.fetch("SELECT COUNT(*) FROM usage")

    assert results.count(None) == 10
    assert rows == 10


async def test_a_version_one_database_gains_the_ledger(tmp_path: Path) -> None:
    async with SqliteTaskStore.open(tmp_path / "db", MIGRATIONS[:1]) as store:
        assert await store.schema_version() == 1

    async with SqliteTaskStore.open(tmp_path / "db") as store:
        await store.reserve_usage(claim("a"), QUERY, at_most(5))
        assert (await store.usage_totals(QUERY)).user_day_videos == 1
        assert await store.schema_version() == len(MIGRATIONS)
