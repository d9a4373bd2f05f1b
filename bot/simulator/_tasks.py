"""A simulated task is a pure function of its id and the wall clock.

Everything the simulator must know to answer for a task (dialect, creation time,
duration, model, size, options, injected faults) is packed into the task id itself.
A simulator restarted in a new process (the bot's restart tests kill the whole bot,
its built-in simulator included) therefore still answers correctly for every task an
earlier instance created, without any shared state. A short keyed checksum makes
garbled or foreign ids answer "not found" instead of nonsense.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import secrets
import struct
from dataclasses import dataclass, field
from enum import Enum, IntFlag, StrEnum

DIALECTS: tuple[str, ...] = ("v2", "sora", "unified", "openai", "video-create")
# The fake relay's own model names; `turbo` is the raw Sora body's only model.
MODELS: tuple[str, ...] = ("sora-2", "sora-2-pro", "turbo")

_VERSION = 1
_CHECK_KEY = b"sorabot-simulator-task-id"
# version|dialect, created ms (6 bytes), duration ms, flags, large bytes, model,
# seconds, width, height, options, nonce; then a 2-byte checksum: 30 bytes = 48
# base32 characters without padding.
_LAYOUT = struct.Struct(">B6sIHIBBHHBI")
_CHECK_BYTES = 2

# Share of the duration spent queued, and where scripted failures happen.
QUEUED_UNTIL = 0.1
MODERATION_AT = 0.95
FAIL_AT = 0.5


class Flag(IntFlag):
    """Scripted behaviour chosen at creation (injected faults and prompt markers)."""

    NONE = 0

    MODERATION = 1  # the generated video fails review after passing 90 %
    MODERATION_PROMPT = 2  # the prompt is refused at once
    MODERATION_IMAGE = 4  # the reference image is refused at once
    FAIL = 8  # a plain generation failure half-way
    LARGE = 16  # the result file is padded to ``large_bytes``
    FIRST_QUERY_RATE_LIMIT = 32  # the first status query gets a 429
    FIRST_QUERY_SERVER_ERROR = 64  # the first status query gets a 500
    VIDEO_URL = 128  # openai dialect: completed answers carry a relay `video_url`


class Option(IntFlag):
    """Request options worth echoing in status answers."""

    NONE = 0

    HD = 1
    PRIVATE = 2
    WATERMARK = 4
    IMAGE = 8
    STORYBOARD = 16  # video-create's storyboard, or the sora operation
    REMIX = 32  # sora: operation remix of an earlier generation
    BLEND = 64  # sora: operation blend


class Phase(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


class Refusal(StrEnum):
    """Which stage failed a task; each dialect words and codes it its own way."""

    OUTPUT = "output"
    PROMPT = "prompt"
    IMAGE = "image"
    ERROR = "error"


# Plain-words reasons, echoing the three review stages the provider documents name.
REASONS: dict[Refusal, str] = {
    Refusal.OUTPUT: "The generated video did not pass review (output moderation).",
    Refusal.PROMPT: (
        "The prompt was rejected by the content policy (violence, sexual content, "
        "copyright or living celebrities)."
    ),
    Refusal.IMAGE: (
        "The input image was rejected: it contains a real person or something too "
        "close to a real person."
    ),
    Refusal.ERROR: "Video generation failed upstream. Please try again.",
}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a task id encodes. ``created`` and ``duration`` are in seconds."""

    dialect: str
    created: float
    duration: float
    model: str
    seconds: int
    width: int
    height: int
    options: Option = Option.NONE
    flags: Flag = Flag.NONE
    large_bytes: int = 0
    # Random, so equal requests made in the same millisecond get distinct ids.
    nonce: int = field(default_factory=lambda: secrets.randbits(32))

    @property
    def end(self) -> float:
        """When the task reaches its terminal state (unix seconds)."""
        if self.flags & (Flag.MODERATION_PROMPT | Flag.MODERATION_IMAGE):
            return self.created
        if self.flags & Flag.FAIL:
            return self.created + FAIL_AT * self.duration
        if self.flags & Flag.MODERATION:
            return self.created + MODERATION_AT * self.duration
        return self.created + self.duration

    def encode(self) -> str:
        payload = _LAYOUT.pack(
            _VERSION << 4 | DIALECTS.index(self.dialect),
            round(self.created * 1000).to_bytes(6, "big"),
            round(self.duration * 1000),
            int(self.flags),
            self.large_bytes,
            MODELS.index(self.model),
            self.seconds,
            self.width,
            self.height,
            int(self.options),
            self.nonce,
        )
        raw = payload + _checksum(payload)
        return base64.b32encode(raw).decode("ascii").lower()

    @staticmethod
    def decode(code: str) -> TaskSpec | None:
        """The spec behind ``code``, or None for anything this simulator never made.

        Cached: at 1,000 status queries a second the same ids come back every poll.
        """
        return _decode(code)


@functools.lru_cache(maxsize=32_768)
def _decode(code: str) -> TaskSpec | None:
    if len(code) != 48:
        return None
    try:
        raw = base64.b32decode(code.upper())
    except (binascii.Error, ValueError):
        return None
    payload, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    if _checksum(payload) != check:
        return None
    (head, created, duration, flags, large, model, seconds, width, height, opts,
     nonce) = _LAYOUT.unpack(payload)  # fmt: skip
    dialect = head & 0x0F
    if head >> 4 != _VERSION or dialect >= len(DIALECTS) or model >= len(MODELS):
        return None
    return TaskSpec(
        dialect=DIALECTS[dialect],
        created=int.from_bytes(created, "big") / 1000,
        duration=duration / 1000,
        model=MODELS[model],
        seconds=seconds,
        width=width,
        height=height,
        options=Option(opts),
        flags=Flag(flags),
        large_bytes=large,
        nonce=nonce,
    )


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_CHECK_KEY, digest_size=_CHECK_BYTES).digest()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A task's state at one instant.

    ``progress`` is a whole percent; ``fraction`` the raw 0-1 share of the duration
    elapsed (the upstream ``progress_pct``). Times are unix seconds or None.
    """

    phase: Phase
    progress: int
    fraction: float
    refusal: Refusal | None
    started_at: float | None
    finished_at: float | None

    @property
    def share(self) -> float:
        """``fraction`` to four places, as relays report ``progress_pct``: never
        1.0 before the task is over (0.99996 would round up to it)."""
        shown = round(self.fraction, 4)
        return shown if self.phase.terminal else min(shown, 0.9999)


def snapshot(spec: TaskSpec, now: float) -> Snapshot:
    """Queued for the first tenth, then running with rising progress, then done."""
    elapsed = max(0.0, now - spec.created)
    fraction = min(1.0, elapsed / spec.duration) if spec.duration > 0 else 1.0
    started = spec.created + QUEUED_UNTIL * spec.duration
    refusal = _refusal(spec.flags)
    if now >= spec.end:
        at = min(1.0, (spec.end - spec.created) / spec.duration) if spec.duration else 1
        if refusal is None:
            return Snapshot(Phase.SUCCEEDED, 100, 1.0, None, started, spec.end)
        progress = int(at * 100)
        return Snapshot(
            Phase.FAILED,
            progress,
            at,
            refusal,
            started if spec.end >= started else None,
            spec.end,
        )
    if fraction < QUEUED_UNTIL:
        return Snapshot(Phase.QUEUED, 0, fraction, None, None, None)
    progress = min(99, max(1, int(fraction * 100)))
    return Snapshot(Phase.RUNNING, progress, fraction, None, started, None)


def _refusal(flags: Flag) -> Refusal | None:
    if flags & Flag.MODERATION_PROMPT:
        return Refusal.PROMPT
    if flags & Flag.MODERATION_IMAGE:
        return Refusal.IMAGE
    if flags & Flag.FAIL:
        return Refusal.ERROR
    if flags & Flag.MODERATION:
        return Refusal.OUTPUT
    return None
