"""The data that crosses every boundary: requests, tasks, statuses and results.

Everything here is a pydantic model so it can be persisted as JSON, sent between the
core and the adapters, and validated once. No platform object (a discord.py
``Interaction``, a Slack payload) ever reaches the core: adapters convert first.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Platform(StrEnum):
    CLI = "cli"
    DISCORD = "discord"
    SLACK = "slack"


class Orientation(StrEnum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"


class ChatRef(BaseModel):
    """Where a task's messages live, as plain ids so it survives a restart.

    ``workspace_id`` is the Discord guild or Slack team; ``thread_id`` and
    ``status_message_id`` are filled in by the adapter once it has posted the status
    message (on Slack the thread id is the status message's ``ts``).
    ``upload_limit`` is the largest file in bytes the platform accepts there, when
    the platform says so per request (Discord's per-interaction
    ``attachment_size_limit`` follows the server's boost level); kept here so the
    result is uploaded or linked correctly even after a restart.
    ``video_message_id`` and ``video_file_id`` say where the finished video was
    posted (a message; on Slack an uploaded file), so a moderator's takedown can
    remove it even after a restart.
    """

    model_config = ConfigDict(frozen=True)

    platform: Platform
    workspace_id: str = ""
    channel_id: str = ""
    thread_id: str | None = None
    status_message_id: str | None = None
    upload_limit: int | None = None
    # The channel a Discord thread belongs to: a gate that allows a channel
    # allows its threads too.
    parent_channel_id: str | None = None
    video_message_id: str | None = None
    video_file_id: str | None = None


class Requester(BaseModel):
    """Who asked, as the platform knows them.

    ``roles``: the member's Discord role ids, for the role gate (empty elsewhere).
    """

    model_config = ConfigDict(frozen=True)

    user_id: str
    display_name: str = ""
    roles: tuple[str, ...] = ()


class ImageInput(BaseModel):
    """A reference image, always held as bytes so it can be validated and re-used.

    ``source_url`` is the platform's public URL for the same bytes when there is one
    (a Discord CDN link): a URL-only provider dialect may pass it as is when the image
    needed no change. Private URLs (Slack ``url_private``) are never stored here.
    """

    model_config = ConfigDict(frozen=True)

    filename: str
    data: bytes = Field(repr=False)
    content_type: str = ""
    source_url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class GenerationRequest(BaseModel):
    """A platform-neutral ask for one video, as typed by a member.

    ``remix_of`` is the provider's generation id of a finished video when this is
    the provider's own remix of it (only dialects whose profile has ``remix``);
    ``remix_at`` names the provider that made that video, the only one that
    knows the id.
    """

    model_config = ConfigDict(frozen=True)

    prompt: str
    model: str = "sora-2"
    orientation: Orientation = Orientation.LANDSCAPE
    seconds: int = 10
    hd: bool = False
    style: str | None = None
    private: bool = False
    image: ImageInput | None = None
    remix_of: str | None = None
    remix_at: str | None = None
    requester: Requester
    chat: ChatRef


class TaskState(StrEnum):
    """The persisted life of a task.

    queued -> received -> submitted -> running -> succeeded | failed -> delivered,
    and cancelled from any state before the outcome is known. ``queued`` waits in
    the bot's own line (over the member's or the server's running limit): nothing
    is sent or counted until it becomes ``received``. ``delivered`` means the user
    has been told the outcome (video or reason), so a restart never tells twice.
    """

    QUEUED = "queued"
    RECEIVED = "received"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"

    @property
    def in_flight(self) -> bool:
        """The provider still owes us an outcome."""
        return self in _IN_FLIGHT

    @property
    def awaiting_delivery(self) -> bool:
        """The outcome is known but the user has not been told yet."""
        return self in _AWAITING_DELIVERY

    @property
    def tracked(self) -> bool:
        """In flight or awaiting delivery: the tracker carries it (and a replica
        leases it)."""
        return self in _IN_FLIGHT or self in _AWAITING_DELIVERY

    @property
    def cancellable(self) -> bool:
        """Waiting in the bot's line or in flight: the Cancel button applies."""
        return self is TaskState.QUEUED or self in _IN_FLIGHT


_IN_FLIGHT = frozenset({TaskState.RECEIVED, TaskState.SUBMITTED, TaskState.RUNNING})
_AWAITING_DELIVERY = frozenset({TaskState.SUCCEEDED, TaskState.FAILED})

ALLOWED_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    # FAILED: a quota refused it when its turn came.
    TaskState.QUEUED: frozenset(
        {TaskState.RECEIVED, TaskState.FAILED, TaskState.CANCELLED}
    ),
    TaskState.RECEIVED: frozenset(
        {TaskState.SUBMITTED, TaskState.FAILED, TaskState.CANCELLED}
    ),
    TaskState.SUBMITTED: frozenset(
        {
            TaskState.RUNNING,
            TaskState.SUCCEEDED,
            TaskState.FAILED,
            TaskState.CANCELLED,
        }
    ),
    TaskState.RUNNING: frozenset(
        {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED}
    ),
    TaskState.SUCCEEDED: frozenset({TaskState.DELIVERED, TaskState.FAILED}),
    TaskState.FAILED: frozenset({TaskState.DELIVERED}),
    TaskState.CANCELLED: frozenset(),
    TaskState.DELIVERED: frozenset(),
}


class FailureKind(StrEnum):
    """Why a task failed, in categories the user can act on."""

    MODERATION_PROMPT = "moderation_prompt"
    MODERATION_IMAGE = "moderation_image"
    MODERATION_OUTPUT = "moderation_output"
    MODERATION = "moderation"  # the provider refused but did not say which stage
    INVALID_INPUT = "invalid_input"
    PROVIDER_CONFIG = "provider_config"  # the operator's key, quota or setup
    PROVIDER_ERROR = "provider_error"
    TIMEOUT = "timeout"
    DELIVERY = "delivery"


class Failure(BaseModel):
    """A failure explained in plain words; ``message`` is safe to show the user.

    ``message`` is the bot's own sentence; ``provider_reason`` is what the video
    service said, kept in its words (moderators and members need both, and relays
    word their refusals more precisely than any category) but made safe: one line,
    links and key-shaped strings redacted, cut at about 300 characters. Adapters
    still escape it for their platform, as they do any outside text.
    """

    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    message: str
    provider_code: str | None = None
    provider_reason: str | None = None


class ProviderState(StrEnum):
    """The provider's status, normalised across dialects."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ProviderState.SUCCEEDED, ProviderState.FAILED)


class Progress(BaseModel):
    """Progress as a whole percent, 0-100."""

    model_config = ConfigDict(frozen=True)

    percent: int = Field(default=0, ge=0, le=100)

    def advanced_to(self, other: Progress) -> Progress:
        """Progress never goes backwards, whatever the provider reports."""
        return self if other.percent <= self.percent else other


class TaskStatus(BaseModel):
    """One answer to "how is task X doing?", whatever the dialect said."""

    model_config = ConfigDict(frozen=True)

    state: ProviderState
    progress: Progress = Progress()
    video_url: str | None = None
    failure: Failure | None = None
    # The provider's id of the finished video, where its own remix needs one.
    generation_id: str | None = None


class VideoResult(BaseModel):
    """The finished video, downloaded to ``path`` on local disk."""

    model_config = ConfigDict(frozen=True)

    path: str
    size_bytes: int
    content_type: str = "video/mp4"
    source_url: str | None = None
    # What the provider's own remix names this video by (``TaskStatus``'s).
    generation_id: str | None = None


class Task(BaseModel):
    """A generation request and everything the bot has learned about it since."""

    id: str
    request: GenerationRequest
    # Where this task's status message and thread live; starts as ``request.chat``
    # and gains message/thread ids once the adapter has posted.
    chat: ChatRef
    state: TaskState = TaskState.RECEIVED
    dialect: str = ""
    # The configured provider the create was sent to (set just before sending):
    # status queries, the download and a resume go to it alone.
    provider: str = ""
    provider_task_id: str | None = None
    progress: Progress = Progress()
    result: VideoResult | None = None
    failure: Failure | None = None
    callback_token: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deadline_at: datetime | None = None
    parent_task_id: str | None = None
    # A moderator's takedown: who (a user id) and when; the video is gone.
    taken_down_by: str | None = None
    taken_down_at: datetime | None = None
    # While ``queued``: the place in line (1 = next), worked out from the store
    # each time it is shown, never saved.
    queue_position: int | None = None

    def can_become(self, state: TaskState) -> bool:
        return state in ALLOWED_TRANSITIONS[self.state]
