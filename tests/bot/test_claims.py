"""One-time claims: the first claimant of a key wins, in every process on the database.

Replicas (here two stores on one database, as two processes hold them; on SQLite
and on PostgreSQL) and a restarted bot must agree on who claimed a key, until its
time is up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.ports import TaskStore
from bot.storage.sqlite import MIGRATIONS, SqliteTaskStore
from tests.backends import Backend


async def test_only_the_first_claim_of_a_key_wins(store: TaskStore) -> None:
    first = await store.claim_once("slack:T1:trigger-1", 60)
    again = await store.claim_once("slack:T1:trigger-1", 60)
    other = await store.claim_once("slack:T1:trigger-2", 60)

    assert (first, again, other) == (True, False, True)


async def test_a_key_claimed_by_one_connection_is_refused_to_another(
    backend: Backend,
) -> None:
    async with backend.open() as one, backend.open() as two:
        racing = await asyncio.gather(
            *(
                store.claim_once(f"k{i % 5}", 60)
                for i in range(40)
                for store in (one, two)
            )
        )

    assert racing.count(True) == 5


async def test_a_claim_survives_a_reopen(backend: Backend) -> None:
    async with backend.open() as store:
        await store.claim_once("slack:event:Ev1", 60)

    async with backend.open() as store:
        assert not await store.claim_once("slack:event:Ev1", 60)


async def test_an_expired_claim_can_be_claimed_again(store: TaskStore) -> None:
    await store.claim_once("k", 0.05)
    await store.claim_once("live", 60)
    await asyncio.sleep(0.1)

    assert await store.claim_once("k", 60)
    assert not await store.claim_once("k", 60)
    assert not await store.claim_once("live", 60)


async def test_expired_claims_are_deleted_by_a_later_claim(backend: Backend) -> None:
    async with backend.open() as store:
        for i in range(3):
            await store.claim_once(f"old{i}", 0.01)
        await store.claim_once("live", 60)
    await asyncio.sleep(0.05)

    async with backend.open() as store:
        await store.claim_once("new", 60)
    keys = {row[0] for row in await backend.fetch("SELECT key FROM claims")}

    assert keys == {"live", "new"}


async def test_a_database_from_before_claims_gets_the_table(tmp_path: Path) -> None:
    before = next(i for i, m in enumerate(MIGRATIONS) if "TABLE claims" in m)
    async with SqliteTaskStore.open(tmp_path / "db", MIGRATIONS[:before]):
        pass

    async with SqliteTaskStore.open(tmp_path / "db") as store:
        version = await store.schema_version()
        claimed = await store.claim_once("k", 60)

    assert (version, claimed) == (len(MIGRATIONS), True)
