"""The ports: what the core needs from the outside world, as Protocols.

Adapters implement ``ChatDirectory``/``ChatThread`` (one per chat platform), provider
dialects implement ``VideoProvider``, and ``bot.storage`` implements ``TaskStore``.
The core depends only on these, so it runs the same under Discord, Slack or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.audit.entries import AuditEntry
from bot.capabilities import CapabilityProfile
from bot.models import (
    ChatRef,
    Failure,
    GenerationRequest,
    Platform,
    Task,
    TaskState,
    TaskStatus,
    VideoResult,
)

# ---------------------------------------------------------------------------------
# Provider side


class PreparedImage(BaseModel):
    """The reference image as it will be sent: fitted bytes, and a URL if hosted."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    data: bytes = Field(repr=False)
    url: str | None = None


class Submission(BaseModel):
    """Everything one ``create`` call needs."""

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    image: PreparedImage | None = None
    callback_url: str | None = None


class VideoProvider(Protocol):
    """One provider dialect: create a task, ask about it, fetch its video."""

    @property
    def name(self) -> str:
        """The operator's name for this provider (``default`` for the only one)."""
        ...

    @property
    def dialect(self) -> str: ...

    @property
    def usable(self) -> bool:
        """Whether requests may reach it now (False after a run of connection
        failures); ``/readyz`` needs at least one usable provider."""
        ...

    @property
    def profile(self) -> CapabilityProfile:
        """What this provider can do: its document's profile as the operator
        narrowed it (see ``bot.capabilities``); output sizes, image transport and
        callbacks are read from it too."""
        ...

    async def create(self, submission: Submission) -> str:
        """Submit a task; return the provider's task id. Raises ``ProviderError``."""
        ...

    async def query(self, provider_task_id: str) -> TaskStatus:
        """The task's normalised status. Raises ``ProviderError``."""
        ...

    async def download(
        self, provider_task_id: str, status: TaskStatus, dest: Path
    ) -> VideoResult:
        """Stream the finished video to ``dest``. Raises ``ProviderError``."""
        ...


# ---------------------------------------------------------------------------------
# Chat side


class ChatThread(Protocol):
    """The one status message and its thread for a task, on some chat platform.

    Implementations render; they decide nothing. They must tolerate being called
    after a restart with only ``task.chat`` to go on.
    """

    async def post_status(self, task: Task) -> ChatRef:
        """Post the status message (and open its thread); return the filled ref."""
        ...

    async def edit_status(self, task: Task) -> None:
        """Show the task's current state and progress in the status message."""
        ...

    async def post_video(self, task: Task, video: VideoResult) -> ChatRef | None:
        """Upload the video into the thread, or post a link if it is too large.

        Returns ``task.chat`` with ``video_message_id``/``video_file_id`` filled
        where the platform can later remove the video (a takedown), else None.
        """
        ...

    async def remove_video(self, task: Task) -> None:
        """Delete the posted video (a moderator's takedown); gone already is fine."""
        ...

    async def post_error(self, task: Task, failure: Failure) -> None:
        """Tell the thread, in plain words, why there is no video."""
        ...


class ChatDirectory(Protocol):
    """Finds the ``ChatThread`` for a stored ``ChatRef`` (one per platform)."""

    @property
    def platform(self) -> Platform: ...

    def thread(self, chat: ChatRef) -> ChatThread: ...

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        """Post ``entry`` to the audit channel ``channel`` (a Takedown button on
        entries for a video that is still up)."""
        ...


# ---------------------------------------------------------------------------------
# Storage


class Scope(BaseModel):
    """Where a moderator's setting applies: a whole server/workspace, or one channel."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    workspace_id: str
    channel_id: str | None = None


class UsageClaim(BaseModel):
    """One video about to count against quotas and budgets (the usage ledger).

    ``cost_micros`` is its price in millionths of the operator's currency, so sums
    stay exact; ``at`` is when it was reserved (UTC).
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    platform: Platform
    workspace_id: str
    user_id: str
    cost_micros: int = 0
    at: datetime


class UsageTotals(BaseModel):
    """What counts now (refunded entries excluded) in one server's current periods."""

    model_config = ConfigDict(frozen=True)

    user_day_videos: int = 0
    server_day_videos: int = 0
    server_day_micros: int = 0
    server_month_micros: int = 0


class UsageQuery(BaseModel):
    """Which server and member, and where their day and month began (UTC instants)."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    workspace_id: str
    user_id: str
    day_start: datetime
    month_start: datetime


_Refusal = TypeVar("_Refusal")


class Notices(Protocol):
    """Short messages to every bot process on the database, this one included.

    PostgreSQL ``LISTEN/NOTIFY`` between replicas; on SQLite (one process) they
    stay in the process. A notice is a hint, never the truth: a receiver re-reads
    the database, and a notice missed while a connection was down costs only time
    (``on_reconnect`` tells who must then re-read everything).
    """

    async def publish(self, topic: str, payload: str) -> None:
        """Send ``payload`` (under 8,000 bytes) to every subscriber of ``topic``."""
        ...

    def subscribe(self, topic: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(payload)`` for each notice on ``topic``, from any process."""
        ...

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` after the listening connection was lost and came
        back: notices sent meanwhile were missed."""
        ...


class TaskStore(Protocol):
    """Durable tasks and per-scope settings, on SQLite or PostgreSQL (bot.storage)."""

    async def add(
        self, task: Task, *, holder: str | None = None, seconds: float = 0.0
    ) -> None:
        """Store a new task; with ``holder``, a tracked one is leased to it for
        ``seconds`` in the same statement, so no other replica takes it over
        while its status message is still being posted."""
        ...

    async def get(self, task_id: str) -> Task:
        """Raises ``TaskNotFound``."""
        ...

    async def save(
        self,
        task: Task,
        *,
        holder: str | None = None,
        was: TaskState | None = None,
    ) -> None:
        """Persist the whole task (state, progress, ids, result, failure).

        With ``holder``, only while that replica holds the task's lease; with
        ``was``, only while the stored state is still ``was``. One conditional
        statement, so a replica whose lease was taken over, or a step racing a
        cancel, changes nothing. Raises ``StaleTask`` when a condition fails,
        ``TaskNotFound`` when there is no such task.
        """
        ...

    # -- leases: which replica carries which task ----------------------------------

    @property
    def notices(self) -> Notices:
        """Hints to every process on this database (see ``Notices``)."""
        ...

    async def lease(
        self,
        holder: str,
        *,
        platforms: Collection[Platform],
        seconds: float,
        limit: int,
    ) -> list[Task]:
        """Lease to ``holder`` for ``seconds`` up to ``limit`` tracked tasks (in
        flight or awaiting delivery) of ``platforms`` that nobody holds or whose
        lease ran out; returns them, oldest first.

        Replicas racing for the same tasks each get different ones (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``).
        """
        ...

    async def take(self, task_id: str, holder: str, seconds: float) -> bool:
        """Lease one tracked task to ``holder`` if nobody else holds it (free,
        run out, or already ``holder``'s); False if another replica does or the
        task is no longer tracked."""
        ...

    async def renew(self, holder: str, seconds: float) -> set[str]:
        """Extend every lease ``holder`` still has on a tracked task; returns
        those tasks' ids. A task ``holder`` carries that is missing was taken
        over or finished elsewhere: stop carrying it."""
        ...

    async def release(self, holder: str) -> None:
        """Give up all of ``holder``'s leases and its heartbeat (a clean stop, or
        a process seen to be gone: the others take the tasks over at once
        instead of after the lease time, and count one replica fewer)."""
        ...

    async def holders(self) -> set[str]:
        """The replicas holding leases on tracked tasks now, live or not."""
        ...

    async def heartbeat(self, holder: str, seconds: float) -> int:
        """Note ``holder`` as alive now; returns how many replicas (``holder``
        included) were seen within the last ``seconds``."""
        ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time on this database (PostgreSQL: an
        advisory lock), for a read-decide-write over several statements such as
        starting the next task of a server's line."""
        ...

    async def unfinished(self) -> list[Task]:
        """Tasks in flight or awaiting delivery: what a restart must resume."""
        ...

    async def recent(self, limit: int = 20) -> list[Task]: ...

    async def in_flight_for_user(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> list[Task]: ...

    async def recent_for_user(
        self, platform: Platform, workspace_id: str, user_id: str, limit: int = 10
    ) -> list[Task]: ...

    async def queued(self, platform: Platform, workspace_id: str) -> list[Task]:
        """The server's tasks waiting in the bot's line, oldest first."""
        ...

    async def queued_workspaces(self) -> list[tuple[Platform, str]]: ...

    async def running_counts(
        self, platform: Platform, workspace_id: str
    ) -> dict[str, int]:
        """Per member: tasks admitted and not yet delivered (the running limit)."""
        ...

    async def running_for(
        self, platform: Platform, workspace_id: str, user_id: str
    ) -> tuple[int, int]:
        """The member's running tasks and the server's, counted in the database:
        what admitting one request needs, without a row per member."""
        ...

    async def add_audit(self, entry: AuditEntry) -> AuditEntry: ...

    async def audit_entries(
        self, *, workspace_id: str | None = None, since: datetime | None = None
    ) -> list[AuditEntry]: ...

    async def by_callback_token(self, token: str) -> Task | None: ...

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None: ...

    async def get_setting(self, scope: Scope, key: str) -> str | None: ...

    async def set_setting(self, scope: Scope, key: str, value: str | None) -> None:
        """Store a setting; ``None`` removes it (falls back to the wider scope)."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers (for ``/readyz``)."""
        ...

    async def reserve_usage(
        self,
        claim: UsageClaim,
        query: UsageQuery,
        decide: Callable[[UsageTotals], _Refusal | None],
    ) -> _Refusal | None:
        """Count ``query``'s usage and record ``claim`` in ONE transaction.

        ``decide`` sees the totals before the claim and returns a reason to refuse,
        or None; only then is the claim recorded. Counting and recording must not
        interleave with another reservation (any process), or concurrent submits
        would all slip under a cap. Returns what ``decide`` returned.
        """
        ...

    async def usage_totals(self, query: UsageQuery) -> UsageTotals: ...

    async def refund_usage(self, task_id: str, kind: str, at: datetime) -> bool:
        """Stop counting ``task_id``'s claim; False if it had none or was refunded."""
        ...

    async def claim_once(self, key: str, ttl_seconds: float) -> bool:
        """Claim ``key`` for ``ttl_seconds``: True for the first claimant only.

        Atomic across every process on the database (one conditional insert), so
        exactly one of them acts on what ``key`` names; after ``ttl_seconds`` the
        key may be claimed again, and expired keys are purged as claims go by.
        """
        ...
