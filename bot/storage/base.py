"""The ``TaskStore`` once, in the SQL both SQLite and PostgreSQL speak.

A backend supplies a connection (``_fetch``, ``_execute``), how it marks a
parameter (``?`` or ``$1``), how it spells a moment, which column breaks ties
between rows created in the same instant, how it skips rows another transaction
has locked, and its lock for ``exclusive``. Every query and the settings cache live
here, so the two backends answer alike by construction; the shared test suite
(``tests/bot/test_store.py``) checks that they do.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from bot.audit.entries import AuditEntry
from bot.errors import StaleTask, TaskNotFound
from bot.models import Platform, Task, TaskState
from bot.ports import Scope, UsageClaim, UsageQuery, UsageTotals
from bot.storage import rows
from bot.storage.notices import SETTINGS_TOPIC, StoreNotices

# Claims past their time are deleted by the first claim after this many seconds,
# so the table holds about one TTL's worth of keys without a job of its own.
CLAIM_PURGE_INTERVAL = 60.0
# ``lease`` filters on this many platform parameters, one statement for any choice:
# the chosen platforms, then NULLs (which match nothing).
LEASE_PLATFORMS = len(Platform)


@dataclass(frozen=True)
class Queries:
    """Every statement the store runs, spelt once per backend at import."""

    insert_image: str
    insert_task: str
    insert_leased_task: str
    save_task: str
    image: str
    by_id: str
    unfinished: str
    recent: str
    in_flight_for_user: str
    by_callback_token: str
    by_provider_task_id: str
    get_setting: str
    delete_setting: str
    put_setting: str
    usage_totals: str
    insert_usage: str
    refund_usage: str
    recent_for_user: str
    queued: str
    queued_workspaces: str
    running_counts: str
    running_for: str
    purge_claims: str
    claim: str
    add_audit: str
    audit_entries: str
    task_exists: str
    lease: str
    take: str
    renew: str
    release: str
    forget_replica: str
    holders: str
    beat: str
    forget_replicas: str
    count_replicas: str

    @classmethod
    def spelt(cls, mark: rows.Marker, tie: str, skip_locked: str = "") -> Queries:
        """``mark(n)`` is the n-th parameter; ``tie`` orders rows of one instant;
        ``skip_locked`` ends a ``SELECT`` that must pass over rows another
        transaction is about to change (empty where writers take turns anyway)."""
        select = f"SELECT {rows.SELECT_COLUMNS} FROM tasks"
        states = ", ".join(mark(n) for n in range(1, len(rows.UNFINISHED) + 1))
        running = ", ".join(mark(n) for n in range(4, len(rows.IN_FLIGHT) + 4))
        admitted = ", ".join(mark(n) for n in range(3, len(rows.RUNNING) + 3))
        setting = (
            f"platform = {mark(1)} AND workspace_id = {mark(2)} "
            f"AND channel_id = {mark(3)} AND key = {mark(4)}"
        )
        # The fence of a conditional save: NULL leaves that condition out (the
        # CAST lets PostgreSQL type a parameter it first meets in IS NULL).
        fence = len(rows.SAVE_COLUMNS) + 2
        # Spelt out, not passed as parameters: a planner uses the partial index on
        # lease_holder only where it can see the query's states are the index's.
        tracked = "state IN ({})".format(", ".join(f"'{s}'" for s in rows.UNFINISHED))
        platforms = ", ".join(mark(n) for n in range(5, LEASE_PLATFORMS + 5))
        return cls(
            insert_image=(
                f"INSERT INTO images (sha256, data) VALUES ({mark(1)}, {mark(2)}) "
                "ON CONFLICT (sha256) DO NOTHING"
            ),
            insert_task=rows.insert_sql(mark),
            insert_leased_task=rows.insert_sql(mark, leased=True),
            save_task=(
                f"{rows.save_sql(mark)} "
                f"AND (CAST({mark(fence)} AS TEXT) IS NULL "
                f"OR lease_holder = {mark(fence)}) "
                f"AND (CAST({mark(fence + 1)} AS TEXT) IS NULL "
                f"OR state = {mark(fence + 1)})"
            ),
            image=f"SELECT data FROM images WHERE sha256 = {mark(1)}",
            by_id=f"{select} WHERE id = {mark(1)}",
            unfinished=(
                f"{select} WHERE state IN ({states}) ORDER BY created_at, {tie}"
            ),
            recent=f"{select} ORDER BY created_at DESC, {tie} DESC LIMIT {mark(1)}",
            in_flight_for_user=(
                f"{select} WHERE platform = {mark(1)} AND workspace_id = {mark(2)} "
                f"AND user_id = {mark(3)} AND state IN ({running}) "
                f"ORDER BY created_at, {tie}"
            ),
            by_callback_token=f"{select} WHERE callback_token = {mark(1)} LIMIT 1",
            by_provider_task_id=(
                f"{select} WHERE provider_task_id = {mark(1)} LIMIT 1"
            ),
            get_setting=f"SELECT value FROM settings WHERE {setting}",
            delete_setting=f"DELETE FROM settings WHERE {setting}",
            put_setting=(
                "INSERT INTO settings (platform, workspace_id, channel_id, key, value) "
                f"VALUES ({mark(1)}, {mark(2)}, {mark(3)}, {mark(4)}, {mark(5)}) "
                "ON CONFLICT (platform, workspace_id, channel_id, key) "
                "DO UPDATE SET value = excluded.value"
            ),
            usage_totals=(
                "SELECT "
                f"COUNT(CASE WHEN user_id = {mark(1)} AND created_at >= {mark(2)} "
                "THEN 1 END) AS user_day, "
                f"COUNT(CASE WHEN created_at >= {mark(2)} THEN 1 END) AS server_day, "
                f"COALESCE(SUM(CASE WHEN created_at >= {mark(2)} THEN cost_micros "
                "END), 0) AS day_micros, "
                "COALESCE(SUM(cost_micros), 0) AS month_micros "
                f"FROM usage WHERE platform = {mark(3)} AND workspace_id = {mark(4)} "
                # A day never starts before its month.
                f"AND created_at >= {mark(5)} AND refunded_at IS NULL"
            ),
            insert_usage=(
                "INSERT INTO usage (task_id, platform, workspace_id, user_id, "
                "cost_micros, created_at) VALUES "
                f"({', '.join(mark(n) for n in range(1, 7))})"
            ),
            refund_usage=(
                f"UPDATE usage SET refunded_at = {mark(1)}, refund_kind = {mark(2)} "
                f"WHERE task_id = {mark(3)} AND refunded_at IS NULL"
            ),
            recent_for_user=(
                f"{select} WHERE platform = {mark(1)} AND workspace_id = {mark(2)} "
                f"AND user_id = {mark(3)} "
                f"ORDER BY created_at DESC, {tie} DESC LIMIT {mark(4)}"
            ),
            queued=(
                f"{select} WHERE platform = {mark(1)} AND workspace_id = {mark(2)} "
                f"AND state = {mark(3)} ORDER BY created_at, {tie}"
            ),
            queued_workspaces=(
                "SELECT DISTINCT platform, workspace_id FROM tasks "
                f"WHERE state = {mark(1)}"
            ),
            running_counts=(
                "SELECT user_id, COUNT(*) AS running FROM tasks "
                f"WHERE platform = {mark(1)} AND workspace_id = {mark(2)} "
                f"AND state IN ({admitted}) GROUP BY user_id"
            ),
            running_for=(
                "SELECT COUNT(CASE WHEN user_id = "
                f"{mark(3 + len(rows.RUNNING))} THEN 1 END) AS mine, "
                "COUNT(*) AS total FROM tasks "
                f"WHERE platform = {mark(1)} AND workspace_id = {mark(2)} "
                f"AND state IN ({admitted})"
            ),
            purge_claims=f"DELETE FROM claims WHERE expires_at <= {mark(1)}",
            # One statement, so two processes racing for a key cannot both win: a
            # new key is inserted, an expired one taken over, a live one left
            # alone (no row changed).
            claim=(
                f"INSERT INTO claims (key, expires_at) VALUES ({mark(1)}, {mark(2)}) "
                "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
                f"WHERE claims.expires_at <= {mark(3)}"
            ),
            add_audit=(
                "INSERT INTO audit (at, platform, workspace_id, kind, task_id, entry) "
                f"VALUES ({', '.join(mark(n) for n in range(1, 7))}) RETURNING id"
            ),
            audit_entries=(
                "SELECT id, entry FROM audit "
                # NULL: any server, any time (COALESCE lets PostgreSQL type it).
                f"WHERE workspace_id = COALESCE({mark(1)}, workspace_id) "
                f"AND at >= COALESCE({mark(2)}, at) ORDER BY at, id"
            ),
            task_exists=f"SELECT 1 FROM tasks WHERE id = {mark(1)}",
            # RETURNING keeps no order: the tie comes back to sort by.
            lease=(
                f"UPDATE tasks SET lease_holder = {mark(1)}, lease_expires = {mark(2)} "
                f"WHERE id IN (SELECT id FROM tasks WHERE {tracked} "
                f"AND platform IN ({platforms}) "
                f"AND (lease_expires IS NULL OR lease_expires < {mark(3)}) "
                f"ORDER BY created_at, {tie} LIMIT {mark(4)}{skip_locked}) "
                f"RETURNING {rows.SELECT_COLUMNS}, {tie} AS tie"
            ),
            take=(
                f"UPDATE tasks SET lease_holder = {mark(1)}, lease_expires = {mark(2)} "
                f"WHERE id = {mark(3)} AND {tracked} AND (lease_holder = {mark(1)} "
                f"OR lease_expires IS NULL OR lease_expires < {mark(4)})"
            ),
            # Only the expiry changes (PostgreSQL updates the row in place). A run
            # out lease still naming the holder was taken by nobody: it may go on.
            renew=(
                f"UPDATE tasks SET lease_expires = {mark(2)} "
                f"WHERE lease_holder = {mark(1)} AND {tracked} RETURNING id"
            ),
            release=(
                "UPDATE tasks SET lease_holder = NULL, lease_expires = NULL "
                f"WHERE lease_holder = {mark(1)} AND {tracked}"
            ),
            forget_replica=f"DELETE FROM replicas WHERE holder = {mark(1)}",
            holders=(
                "SELECT DISTINCT lease_holder FROM tasks "
                f"WHERE lease_holder IS NOT NULL AND {tracked}"
            ),
            beat=(
                f"INSERT INTO replicas (holder, seen_at) VALUES ({mark(1)}, {mark(2)}) "
                "ON CONFLICT (holder) DO UPDATE SET seen_at = excluded.seen_at"
            ),
            forget_replicas=f"DELETE FROM replicas WHERE seen_at < {mark(1)}",
            count_replicas="SELECT COUNT(*) AS alive FROM replicas",
        )


_R = TypeVar("_R")
Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[rows.Row]]]
Execute = Callable[[str, Sequence[Any]], Awaitable[int]]


class SqlTaskStore(ABC):
    """The ``TaskStore`` on any backend that implements the few methods below."""

    SQL: ClassVar[Queries]

    def __init__(self, notices: StoreNotices) -> None:
        # Every /sora reads up to three settings: a copy in memory (a few entries
        # per server) saves those round trips. Each replica keeps its own, so a
        # change is published on SETTINGS_TOPIC and every store on the database,
        # this one too, drops that entry; after the listening connection was lost
        # notices may have been missed, and the whole copy goes. A read that raced
        # a drop does not keep what it fetched (``_settings_drops`` moved).
        self._settings: dict[tuple[str, str, str, str], str | None] = {}
        self._settings_drops = 0
        self._next_claim_purge = 0.0
        self._notices = notices
        notices.subscribe(SETTINGS_TOPIC, self._drop_setting)
        notices.on_reconnect(self._drop_settings)

    # -- what a backend supplies ---------------------------------------------------

    @classmethod
    @abstractmethod
    async def connect(
        cls, target: Any, migrations: Sequence[str] | None = None
    ) -> Self:
        """Open and migrate the database ``target`` names (``MIGRATIONS`` by
        default)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers (``/readyz``)."""

    @abstractmethod
    async def _fetch(self, sql: str, params: Sequence[Any]) -> Sequence[rows.Row]: ...

    @abstractmethod
    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; return how many rows it changed."""

    @abstractmethod
    async def _execute_apart(self, sql: str, params: Sequence[Any]) -> int:
        """``_execute`` on a connection the tracker's writes never hold (claims
        come before a chat acknowledgement and must not queue behind them)."""

    @abstractmethod
    def _reservation(
        self, platform: Platform, workspace_id: str
    ) -> AbstractAsyncContextManager[tuple[Fetch, Execute]]:
        """One transaction that no other reservation for this server interleaves
        with, in any process; yields its ``_fetch`` and ``_execute``."""

    @staticmethod
    @abstractmethod
    def _time(moment: datetime) -> object:
        """A moment as this backend stores it."""

    # -- the store -----------------------------------------------------------------

    @property
    def notices(self) -> StoreNotices:
        return self._notices

    @classmethod
    @asynccontextmanager
    async def open(
        cls, target: Any, migrations: Sequence[str] | None = None
    ) -> AsyncIterator[Self]:
        store = await cls.connect(target, migrations)
        try:
            yield store
        finally:
            await store.close()

    async def add(
        self, task: Task, *, holder: str | None = None, seconds: float = 0.0
    ) -> None:
        image = rows.image_of(task)
        if image is not None:
            # Alone, without a transaction around both: an image row is harmless
            # (stored once per content) and a transaction costs two round trips.
            await self._execute(self.SQL.insert_image, image)
        values = rows.add_values(task, self._time)
        if holder is not None and task.state.tracked:
            lease = (holder, time.time() + seconds)
            await self._execute(self.SQL.insert_leased_task, (*values, *lease))
        else:
            await self._execute(self.SQL.insert_task, values)

    async def save(
        self,
        task: Task,
        *,
        holder: str | None = None,
        was: TaskState | None = None,
    ) -> None:
        """Write what can change; the request itself is fixed once added.

        The conditions are part of the one ``UPDATE``, so PostgreSQL checks them
        against the row as a concurrent takeover or cancel left it."""
        values = (
            *rows.save_values(task, self._time),
            holder,
            None if was is None else was.value,
        )
        if await self._execute(self.SQL.save_task, values) > 0:
            return
        # Rare, so the statement above stays one round trip: which condition failed?
        if not await self._fetch(self.SQL.task_exists, (task.id,)):
            raise TaskNotFound(task.id)
        raise StaleTask(task.id)

    async def get(self, task_id: str) -> Task:
        task = await self._one(self.SQL.by_id, (task_id,))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    async def unfinished(self) -> list[Task]:
        return await self._many(self.SQL.unfinished, rows.UNFINISHED)

    async def recent(self, limit: int = 20) -> list[Task]:
        return await self._many(self.SQL.recent, (limit,))

    async def in_flight_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]:
        return await self._many(
            self.SQL.in_flight_for_user,
            (platform.value, workspace_id, user_id, *rows.IN_FLIGHT),
        )

    async def by_callback_token(self, token: str) -> Task | None:
        return await self._one(self.SQL.by_callback_token, (token,))

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None:
        return await self._one(self.SQL.by_provider_task_id, (provider_task_id,))

    async def get_setting(self, scope: Scope, key: str) -> str | None:
        where = rows.setting_key(scope, key)
        if where in self._settings:
            return self._settings[where]
        drops = self._settings_drops
        found = await self._fetch(self.SQL.get_setting, where)
        value = next((str(row["value"]) for row in found), None)
        if drops == self._settings_drops:
            self._settings[where] = value
        return value

    async def set_setting(self, scope: Scope, key: str, value: str | None) -> None:
        where = rows.setting_key(scope, key)
        if value is None:
            await self._execute(self.SQL.delete_setting, where)
        else:
            await self._execute(self.SQL.put_setting, (*where, value))
        self._settings[where] = value
        await self._notices.publish(SETTINGS_TOPIC, json.dumps(where))

    def _drop_setting(self, payload: str) -> None:
        self._settings.pop(tuple(json.loads(payload)), None)
        self._settings_drops += 1

    def _drop_settings(self) -> None:
        self._settings.clear()
        self._settings_drops += 1

    async def recent_for_user(
        self, platform: Platform, workspace_id: str, user_id: str, limit: int = 10
    ) -> list[Task]:
        return await self._many(
            self.SQL.recent_for_user, (platform.value, workspace_id, user_id, limit)
        )

    async def queued(self, platform: Platform, workspace_id: str) -> list[Task]:
        """The server's waiting tasks, oldest first (the order they were asked)."""
        return await self._many(
            self.SQL.queued, (platform.value, workspace_id, TaskState.QUEUED.value)
        )

    async def queued_workspaces(self) -> list[tuple[Platform, str]]:
        found = await self._fetch(self.SQL.queued_workspaces, (TaskState.QUEUED.value,))
        return [(Platform(row["platform"]), str(row["workspace_id"])) for row in found]

    async def running_counts(
        self, platform: Platform, workspace_id: str
    ) -> dict[str, int]:
        """Running tasks per member of one server: admitted, not yet delivered."""
        found = await self._fetch(
            self.SQL.running_counts, (platform.value, workspace_id, *rows.RUNNING)
        )
        return {str(row["user_id"]): int(row["running"]) for row in found}

    async def running_for(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> tuple[int, int]:
        [row] = await self._fetch(
            self.SQL.running_for,
            (platform.value, workspace_id, *rows.RUNNING, user_id),
        )
        return int(row["mine"]), int(row["total"])

    # -- leases: which replica carries which task ----------------------------------

    @abstractmethod
    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time on this database (see ``TaskStore``)."""

    async def lease(
        self,
        holder: str,
        *,
        platforms: Collection[Platform],
        seconds: float,
        limit: int,
    ) -> list[Task]:
        chosen = [platform.value for platform in set(platforms)]
        if not chosen or limit <= 0:
            return []
        now = time.time()
        found = await self._fetch(
            self.SQL.lease,
            (
                holder,
                now + seconds,
                now,
                limit,
                *chosen,
                *[None] * (LEASE_PLATFORMS - len(chosen)),
            ),
        )
        oldest_first = sorted(found, key=lambda row: (row["created_at"], row["tie"]))
        return await self._tasks(oldest_first)

    async def take(self, task_id: str, holder: str, seconds: float) -> bool:
        now = time.time()
        changed = await self._execute(
            self.SQL.take, (holder, now + seconds, task_id, now)
        )
        return changed > 0

    async def renew(self, holder: str, seconds: float) -> set[str]:
        found = await self._fetch(self.SQL.renew, (holder, time.time() + seconds))
        return {str(row["id"]) for row in found}

    async def release(self, holder: str) -> None:
        await self._execute(self.SQL.release, (holder,))
        # Gone from the count at once: the others' edit budgets grow back now,
        # not after a lease time.
        await self._execute(self.SQL.forget_replica, (holder,))

    async def holders(self) -> set[str]:
        found = await self._fetch(self.SQL.holders, ())
        return {str(row["lease_holder"]) for row in found}

    async def heartbeat(self, holder: str, seconds: float) -> int:
        now = time.time()
        await self._execute(self.SQL.beat, (holder, now))
        await self._execute(self.SQL.forget_replicas, (now - seconds,))
        [row] = await self._fetch(self.SQL.count_replicas, ())
        return int(row["alive"])

    # -- one-time claims -----------------------------------------------------------

    async def claim_once(self, key: str, ttl_seconds: float) -> bool:
        now = time.time()
        if now >= self._next_claim_purge:
            self._next_claim_purge = now + CLAIM_PURGE_INTERVAL
            await self._execute_apart(self.SQL.purge_claims, (now,))
        changed = await self._execute_apart(
            self.SQL.claim, (key, now + ttl_seconds, now)
        )
        return changed == 1

    # -- audit log -----------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append ``entry``; returns it with its id."""
        [row] = await self._fetch(
            self.SQL.add_audit,
            (
                self._time(entry.at),
                entry.platform.value,
                entry.workspace_id,
                entry.kind.value,
                entry.task_id,
                entry.model_dump_json(exclude={"id"}),
            ),
        )
        return entry.model_copy(update={"id": int(row["id"])})

    async def audit_entries(
        self, *, workspace_id: str | None = None, since: datetime | None = None
    ) -> list[AuditEntry]:
        """The audit log, oldest first, optionally of one server and from a time."""
        found = await self._fetch(
            self.SQL.audit_entries,
            (workspace_id, None if since is None else self._time(since)),
        )
        return [
            AuditEntry.model_validate_json(row["entry"]).model_copy(
                update={"id": int(row["id"])}
            )
            for row in found
        ]

    # -- usage ledger --------------------------------------------------------------

    async def reserve_usage(
        self,
        claim: UsageClaim,
        query: UsageQuery,
        decide: Callable[[UsageTotals], _R | None],
    ) -> _R | None:
        async with self._reservation(query.platform, query.workspace_id) as (
            fetch,
            execute,
        ):
            refusal = decide(await self._totals(query, fetch))
            if refusal is None:
                await execute(
                    self.SQL.insert_usage,
                    (
                        claim.task_id,
                        claim.platform.value,
                        claim.workspace_id,
                        claim.user_id,
                        claim.cost_micros,
                        self._time(claim.at),
                    ),
                )
        return refusal

    async def usage_totals(self, query: UsageQuery) -> UsageTotals:
        return await self._totals(query, self._fetch)

    async def refund_usage(self, task_id: str, kind: str, at: datetime) -> bool:
        changed = await self._execute(
            self.SQL.refund_usage, (self._time(at), kind, task_id)
        )
        return changed > 0

    async def _totals(self, query: UsageQuery, fetch: Fetch) -> UsageTotals:
        [row] = await fetch(
            self.SQL.usage_totals,
            (
                query.user_id,
                self._time(query.day_start),
                query.platform.value,
                query.workspace_id,
                self._time(query.month_start),
            ),
        )
        return UsageTotals(
            user_day_videos=int(row["user_day"]),
            server_day_videos=int(row["server_day"]),
            server_day_micros=int(row["day_micros"]),
            server_month_micros=int(row["month_micros"]),
        )

    # -- reading tasks -------------------------------------------------------------

    async def _one(self, sql: str, params: Sequence[Any]) -> Task | None:
        tasks = await self._many(sql, params)
        return tasks[0] if tasks else None

    async def _many(self, sql: str, params: Sequence[Any]) -> list[Task]:
        return await self._tasks(await self._fetch(sql, params))

    async def _tasks(self, found: Sequence[rows.Row]) -> list[Task]:
        return [await rows.load_task(row, self._image) for row in found]

    async def _image(self, sha256: str) -> bytes | None:
        found = await self._fetch(self.SQL.image, (sha256,))
        return next((bytes(row["data"]) for row in found), None)
