"""Platform-neutral words and glyphs for a task: labels, progress bar, reasons.

Discord, Slack and the terminal all show the same things; they add their own markup
around these pieces, so the wording is decided once and tested once. What a status
claims (HD, private, the provider's remix) is read from the task's request and its
provider's profile, so nothing is claimed that was not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.capabilities import CapabilityProfile
from bot.config import DEFAULT_PROVIDER
from bot.models import (
    Failure,
    FailureKind,
    Task,
    TaskState,
    utcnow,
)
from bot.wording import Advice

PRIVATE_MODE_NOTE = (
    "Private mode is on: this video is not published and cannot be remixed."
)
# What a moderator reads when switching private mode on or finding it unavailable.
PRIVATE_MODE_EXPLAINED = (
    "Private mode asks the video service not to publish each video and not to let "
    "anyone remix it there. It hides nothing in this chat: the status message, "
    "the thread and the video stay visible to everyone who can see the channel."
)
PRIVATE_UNAVAILABLE = (
    "Private mode stays off: this bot's video service cannot keep videos "
    "unpublished (it has no private setting), so it would be a label only. "
    + PRIVATE_MODE_EXPLAINED
)
PRIVATE_MODE_REFUSED = (
    "Private mode is on here, but this bot's video service cannot keep videos "
    "unpublished, so nothing was sent. A moderator can switch private mode off."
)
# The two things the Remix button can be.
PROVIDER_REMIX = "Remix"
SAME_SETTINGS = "New video, same settings"

NO_IMAGE_TO_ANIMATE = (
    "This message has no picture to animate. Pick a message with an image "
    "attached, or use /sora with an image."
)

REMOVED_LABEL = "Removed by a moderator"

_STATE_LABELS: dict[TaskState, str] = {
    TaskState.QUEUED: "Queued",
    TaskState.RECEIVED: "Queued",
    TaskState.SUBMITTED: "Queued",
    TaskState.RUNNING: "Generating",
    TaskState.SUCCEEDED: "Done",
    TaskState.FAILED: "Failed",
    TaskState.CANCELLED: "Cancelled",
    TaskState.DELIVERED: "Done",
}

# Moderation and time-outs get fixed sentences naming the stage in plain words;
# the provider's own wording (often terse, sometimes in another language) follows
# them, quoted, when there is one.
_FAILURE_TEXT: dict[FailureKind, str] = {
    FailureKind.MODERATION_PROMPT: (
        "The video service refused the prompt under its content policy. "
        "Rephrase it and try again."
    ),
    FailureKind.MODERATION_IMAGE: (
        "The video service refused the reference image under its content policy "
        "(photos of real people are often refused). Try another image."
    ),
    FailureKind.MODERATION_OUTPUT: (
        "The finished video did not pass the video service's content review. "
        "Try a different prompt."
    ),
    FailureKind.MODERATION: (
        "The video service refused this request under its content policy. "
        "Try a different prompt or image."
    ),
    FailureKind.TIMEOUT: (
        "The video service took too long to make this video. Try again later."
    ),
}

_FAILURE_FALLBACK: dict[FailureKind, str] = {
    FailureKind.INVALID_INPUT: "The video service could not accept this request.",
    FailureKind.PROVIDER_CONFIG: (
        f"The bot's video service is not set up correctly. {Advice.OPERATOR_TOLD_SETUP}"
    ),
    FailureKind.PROVIDER_ERROR: "The video service could not make this video.",
    FailureKind.DELIVERY: "The video was made but could not be posted here.",
}


def _as_is(text: str) -> str:
    return text


def _profile(task: Task) -> CapabilityProfile | None:
    """The document's profile of the dialect that took ``task`` (if it still is
    one): an operator narrows models, never private, HD sizes or remix."""
    # Imported here: the providers word their failures with this module.
    from bot.providers import PROVIDERS

    cls = PROVIDERS.get(task.dialect)
    return None if cls is None else cls.profile


def hd_sent(task: Task) -> bool:
    """HD was asked for, sent, and has an effect at this length."""
    request, profile = task.request, _profile(task)
    if not request.hd or profile is None:
        return False
    models = [m for m in profile.models if m.name == request.model] or profile.models
    return any(request.seconds in m.hd_seconds for m in models)


def private_sent(task: Task) -> bool:
    """``private: true`` went to a provider that has the field."""
    profile = _profile(task)
    return task.request.private and profile is not None and profile.private


def private_note(task: Task) -> str | None:
    """The status's private-mode line, only where private was really sent."""
    return PRIVATE_MODE_NOTE if private_sent(task) else None


def remix_source(task: Task) -> str | None:
    """The provider's generation id its own remix starts from: only for a
    finished video of a dialect with a remix, and not a private one."""
    profile = _profile(task)
    if profile is None or not profile.remix or task.request.private:
        return None
    return None if task.result is None else task.result.generation_id


def remix_label(task: Task) -> str:
    """What the Remix button does for ``task``, as its label says it."""
    return PROVIDER_REMIX if remix_source(task) is not None else SAME_SETTINGS


def settings_summary(task: Task) -> str:
    """One line of the settings sent: ``sora-2 · 10 s · landscape · HD · private``."""
    request = task.request
    parts = [request.model, f"{request.seconds} s", request.orientation.value]
    if hd_sent(task):
        parts.append("HD")
    if request.style:
        parts.append(request.style)
    if request.image is not None:
        parts.append("reference image")
    if request.remix_of is not None:
        parts.append("remix")
    if private_sent(task):
        parts.append("private")
    return " · ".join(parts)


def progress_bar(percent: int, width: int = 10) -> str:
    """A text bar such as ``█████░░░░░ 50%``; rounds down so 99 % never looks full."""
    percent = max(0, min(100, percent))
    filled = percent * width // 100
    return f"{'█' * filled}{'░' * (width - filled)} {percent}%"


def format_elapsed(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``22nd``."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def state_label(task: Task) -> str:
    """What the status message's headline says: Queued, Generating, Done, ...

    A request waiting in the bot's own line says its place: ``Queued, 2nd in
    line``; a video a moderator took down says so.
    """
    if task.taken_down_at is not None:
        return REMOVED_LABEL
    if task.state is TaskState.QUEUED and task.queue_position is not None:
        return f"Queued, {ordinal(task.queue_position)} in line"
    if task.state is TaskState.DELIVERED and task.failure is not None:
        return _STATE_LABELS[TaskState.FAILED]
    return _STATE_LABELS[task.state]


def started_label(task: Task) -> str:
    """The private confirmation's first words: ``Started``, or the place in line."""
    if task.state is TaskState.QUEUED:
        return state_label(task)
    return "Started"


def queue_full_text(running: int, waiting: int, limit: int) -> str:
    """Why a request was refused although there is a queue: the line is full."""
    videos = "video" if running == 1 else "videos"
    if limit == 0:
        return (
            f"You already have {running} {videos} in progress; wait for one to finish."
        )
    return (
        f"You already have {running} {videos} in progress and {waiting} waiting, "
        f"the most this server lets wait ({limit}). Try again when one has finished."
    )


def outcome_label(task: Task) -> str:
    """How a task ended, for listings: ``done``, ``failed (moderation_prompt)``,
    ``cancelled``; while it runs, where it is (``queued``, ``running``).

    Unlike ``state_label`` it names the failure's kind, so a list of past tasks
    tells a failed video from a delivered one at a glance.
    """
    if task.taken_down_at is not None:
        return "taken down"
    if task.failure is not None:
        return f"failed ({task.failure.kind.value})"
    if task.state is TaskState.DELIVERED:
        return "done"
    if task.state is TaskState.SUCCEEDED:
        return "done, not yet posted"
    return _STATE_LABELS[task.state].lower()


def provider_label(task: Task) -> str:
    """Which provider made (or was asked for) the video: its dialect, and its
    configured name when there are several (``SORA_PROVIDERS``)."""
    if task.provider and task.provider != DEFAULT_PROVIDER:
        return f"{task.provider}/{task.dialect}"
    return task.dialect or "-"


def status_line(task: Task, now: datetime | None = None) -> str:
    """``Generating █████░░░░░ 50% · 1 min 05 s``: headline, bar while running, time."""
    elapsed = ((now or utcnow()) - task.created_at).total_seconds()
    parts = [state_label(task)]
    if task.state in (TaskState.SUBMITTED, TaskState.RUNNING):
        parts.append(progress_bar(task.progress.percent))
    return f"{' '.join(parts)} · {format_elapsed(elapsed)}"


def file_size(size: int) -> str:
    """``25.0 MB``, or ``18 KB`` below a megabyte (never ``0.0 MB``)."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def oversized_video_text(
    size: int,
    limit: int,
    place: str,
    *,
    own_link: str | None = None,
    days: int = 0,
    provider_link: str | None = None,
) -> str:
    """Why a video is a link rather than a file, and for how long the link works.

    ``place`` is whose limit it is (``this server's``); ``own_link`` is the bot's
    copy, kept ``days`` days; else the provider's ``provider_link``, if any.
    """
    why = (
        f"The video is {file_size(size)}, more than {place} upload limit of "
        f"{file_size(limit)}, so it cannot be attached here"
    )
    if own_link:
        kept = f"{days} day" if days == 1 else f"{days} days"
        return f"{why}; this link to the bot's copy works for {kept}: {own_link}"
    if provider_link:
        return f"{why}. Watch it here: {provider_link}"
    return (
        f"{why}. The video service gave no public link for it; "
        "a shorter or non-HD video would fit."
    )


def stage_sentence(kind: FailureKind) -> str | None:
    """The fixed sentence for a moderation stage or a time-out, else ``None``."""
    return _FAILURE_TEXT.get(kind)


def failure_text(failure: Failure, escape: Callable[[str], str] = _as_is) -> str:
    """Why there is no video: the stage in plain words, then the provider's words.

    ``escape`` is the platform's escaping for outside text; it is applied to the
    provider's words only, because the bot's own sentences carry the markup they
    mean (a field name in backticks).
    """
    text = (
        _FAILURE_TEXT.get(failure.kind)
        or failure.message.strip()
        or _FAILURE_FALLBACK[failure.kind]
    )
    if failure.provider_reason:
        text += f' The video service said: "{escape(failure.provider_reason)}"'
    return text
