"""Which tasks this replica carries: leases kept alive, lost ones let go, and the
tasks of a replica that died taken over.

Every replica on one database runs one keeper. Each round (every
``min(poll_interval, lease_time / 3)`` seconds) it writes a heartbeat (so the
replicas know how many share the platforms' edit budgets), renews every lease it
holds, lets go of tasks whose lease another replica took, and leases what nobody
carries: tasks of a replica whose lease ran out, or of one that stopped cleanly
and released them. A replica that dies is therefore replaced within the lease
time plus one round, and a round is never longer than one poll interval; one
restarted on the same host (a lone bot after a crash) needs no wait at all, as
it can see that the process that held the leases is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from bot.models import Platform, Task
from bot.ports import TaskStore
from bot.replicas import Replicas, gone

log = logging.getLogger(__name__)

# Tasks leased per statement: a takeover of 10,000 is a few short statements
# rather than one long one holding 10,000 row locks.
LEASE_BATCH = 500


def round_interval(poll_interval: float, lease_time: float) -> float:
    """Seconds between two rounds: three renewals per lease time, so one slow
    round never loses a lease, and a takeover within one poll interval."""
    return min(poll_interval, lease_time / 3)


class LeaseKeeper:
    """Renews this replica's leases and takes over the tasks nobody carries.

    Args:
        store: the shared database.
        replicas: this replica's id, and the live count the keeper refreshes.
        lease_time: seconds a lease lasts unless renewed (``LEASE_TIME``).
        interval: seconds between rounds (``round_interval``).
        platforms: the platforms whose tasks this replica can deliver.
        carried: the ids of the tasks this replica holds a lease on now.
        adopt: carry a task just leased (taken over or resumed).
        lost: stop carrying a task whose lease went elsewhere or that finished
            elsewhere.
        taken_over: counts tasks leased by a round (not at start), in batches.
    """

    def __init__(
        self,
        store: TaskStore,
        replicas: Replicas,
        *,
        lease_time: float,
        interval: float,
        platforms: Callable[[], Collection[Platform]],
        carried: Callable[[], Collection[str]],
        adopt: Callable[[Task], None],
        lost: Callable[[str], None],
        taken_over: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._store = store
        self._replicas = replicas
        self.lease_time = lease_time
        self.interval = interval
        self._platforms = platforms
        self._carried = carried
        self._adopt = adopt
        self._lost = lost
        self._taken_over = taken_over
        self._runner: asyncio.Task[None] | None = None

    @property
    def holder(self) -> str:
        return self._replicas.id

    async def take(self, task_id: str) -> bool:
        """Lease one task this replica is about to start (a new or released one)."""
        return await self._store.take(task_id, self.holder, self.lease_time)

    async def start(self) -> int:
        """Lease every task nobody carries, then keep the leases in the
        background; returns how many were leased now."""
        # Leases still naming this replica's id are a previous process's (a
        # restart with the same REPLICA_ID): renewing them would carry nothing.
        await self._store.release(self.holder)
        for other in await self._store.holders():
            if gone(other, self.holder):
                log.info(
                    "replica %s no longer runs on this host; its tasks are taken "
                    "over now",
                    other,
                )
                await self._store.release(other)
        await self._beat()
        taken = await self._lease_free()
        self._runner = asyncio.create_task(self._rounds(), name="lease-keeper")
        return taken

    async def aclose(self) -> None:
        """Stop renewing and release every lease, so the others take the tasks
        over at their next round instead of after the lease time."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        try:
            await self._store.release(self.holder)
        except Exception:
            # The leases then simply run out: the others wait a lease time.
            log.warning("could not release this replica's leases", exc_info=True)

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away: nothing is lost while leases last, and
                # the next round tries again.
                log.warning("lease round failed; trying again", exc_info=True)

    async def round(self) -> None:
        """One heartbeat, renewal and takeover."""
        await self._beat()
        before = set(self._carried())
        kept = await self._store.renew(self.holder, self.lease_time)
        # Only tasks carried both before the renewal started and after it came
        # back can have been lost: one leased or delivered meanwhile was not.
        carried = set(self._carried())
        for task_id in (before - kept) & carried:
            log.warning(
                "task %s: this replica's lease went to another; letting it go",
                task_id,
            )
            self._lost(task_id)
        taken = await self._lease_free()
        if taken:
            self._taken_over(taken)
            log.info("took over %d task(s) nobody was carrying", taken)

    async def _beat(self) -> None:
        live = await self._store.heartbeat(self.holder, self.lease_time)
        self._replicas.seen(live)

    async def _lease_free(self) -> int:
        platforms = self._platforms()
        if not platforms:
            return 0
        taken = 0
        while True:
            batch = await self._store.lease(
                self.holder,
                platforms=platforms,
                seconds=self.lease_time,
                limit=LEASE_BATCH,
            )
            for task in batch:
                self._adopt(task)
            taken += len(batch)
            if len(batch) < LEASE_BATCH:
                return taken
