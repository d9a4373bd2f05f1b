"""Lenient readers that turn any dialect's status answer into one ``TaskStatus``.

Relays change their answers without notice, so nothing here trusts a type: every
reader takes arbitrary JSON and returns a value or ``None``. The lookup orders follow
``reference/provider-apis.md`` section 7, applied to every dialect, so a relay that
answers in a neighbouring dialect's shape still works. Only a missing *required*
field (no status, a finished task without a video) becomes a ``ProviderProtocolError``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from bot.errors import ProviderProtocolError
from bot.models import Progress, ProviderState, TaskStatus
from bot.providers._failures import FAILED_WORDS, describe_failure

log = logging.getLogger(__name__)

# Status words seen across the five dialects and new-api's upstream mapping. The
# failed ones include words that are themselves the reason (``moderated``,
# ``expired``, ``cancelled``): left unknown, they would read as queued until the
# task's deadline.
_STATES: dict[str, ProviderState] = {
    **dict.fromkeys(
        ("not_start", "submitted", "queued", "pending", "preparing", "unknown"),
        ProviderState.QUEUED,
    ),
    **dict.fromkeys(
        ("in_progress", "processing", "running", "generating"), ProviderState.RUNNING
    ),
    **dict.fromkeys(
        ("success", "succeeded", "completed", "finished"), ProviderState.SUCCEEDED
    ),
    **dict.fromkeys(FAILED_WORDS, ProviderState.FAILED),
}

_URL_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("results", 0),
    ("video_url",),
    ("url",),
    ("data", "output"),
    ("metadata", "url"),
    ("data", "data", "generations", 0, "url"),
)
_FAILURE_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("error", "message"),
    ("error",),
    ("fail_reason",),
    ("data", "fail_reason"),
    ("data", "failure_reason"),
    ("detail", "failure_reason"),
    ("detail", "error"),
)


def dig(value: object, *path: str | int) -> object:
    """``value[p0][p1]...`` through dicts and lists, or ``None`` at the first miss."""
    for key in path:
        if isinstance(key, str) and isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(key, int) and isinstance(value, list) and len(value) > key:
            value = value[key]
        else:
            return None
    return value


def text(value: object) -> str | None:
    """A non-blank string, stripped; anything else is ``None``."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL."""
    url = text(value)
    if url and url.lower().startswith(("https://", "http://")) and " " not in url:
        return url
    return None


def parse_state(raw: object) -> ProviderState:
    """The normalised state; a missing status is a protocol error.

    An unknown word counts as queued, as new-api does, so a relay that adds an
    intermediate state keeps being polled instead of failing the task.
    """
    word = text(raw)
    if word is None:
        raise ProviderProtocolError("The video service's status answer has no status.")
    state = _STATES.get(word.lower())
    if state is None:
        log.warning("unknown provider status %r treated as queued", word[:40])
        return ProviderState.QUEUED
    return state


def parse_progress(raw: object, *, fraction: bool = False) -> int | None:
    """A whole percent from ``45``, ``"45%"``, ``"0"``, ``0.93`` or ``None``.

    ``fraction`` marks fields that are 0-1 by definition (upstream ``progress_pct``),
    though a value above 1 there is taken as the percent a relay meant; elsewhere a
    non-integral number below 1 is also read as a fraction, because no relay reports
    "0.5 percent".
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip().rstrip("%").strip())
        except ValueError:
            return None
    if not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    number = float(raw)
    if (fraction and number <= 1) or (0 < number < 1):
        number *= 100
    return round(min(max(number, 0.0), 100.0))


def lookup_url(body: object) -> str | None:
    """The video URL at the first place section 7 lists that holds one."""
    for path in _URL_PATHS:
        url = http_url(dig(body, *path))
        if url:
            return url
    return None


def find_mp4_url(value: object, depth: int = 6) -> str | None:
    """The first ``http*.mp4`` URL anywhere inside ``value`` (depth-first)."""
    if depth < 0:
        return None
    url = http_url(value)
    if url:
        return url if url.split("?", 1)[0].lower().endswith(".mp4") else None
    children: list[object] = []
    if isinstance(value, Mapping):
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    for child in children:
        found = find_mp4_url(child, depth - 1)
        if found:
            return found
    return None


_UPSTREAM_PROGRESS: tuple[tuple[str, ...], ...] = (
    ("detail", "pending_info"),
    ("pending_info",),
    ("data",),
)


def lookup_progress(body: object) -> int | None:
    """The furthest of ``progress`` and the upstream ``progress_pct`` fractions.

    Relays often pin their own ``progress`` at ``"0"`` (``video-create``) or
    ``"0%"`` (``sora``) while the upstream fraction rises, so a top-level 0 must
    not hide it; the largest figure is the most informative one.
    """
    found = [
        pct
        for pct in (
            parse_progress(dig(body, "progress")),
            *(
                parse_progress(dig(body, *path, "progress_pct"), fraction=True)
                for path in _UPSTREAM_PROGRESS
            ),
        )
        if pct is not None
    ]
    return max(found) if found else None


def lookup_failure(body: object) -> tuple[str | None, str | None]:
    """The provider's failure text and code, in section 7's order."""
    reason = next(
        (t for path in _FAILURE_PATHS if (t := text(dig(body, *path))) is not None),
        None,
    )
    code = text(dig(body, "error", "code")) or text(dig(body, "error", "type"))
    return reason, code


def task_status(
    state: ProviderState,
    *,
    progress: int | None,
    url: str | None,
    failure_in: object,
    url_optional: bool = False,
) -> TaskStatus:
    """Assemble the status, insisting on a video URL for a finished task.

    ``failure_in`` is the object holding the failure reason; it is only read for a
    failed task, because wording a failure runs a dozen regular expressions and
    a tracker polls thousands of healthy tasks a second. ``url_optional`` is for
    dialects with a download route that needs no URL.
    """
    if state is ProviderState.SUCCEEDED:
        if url is None and not url_optional:
            raise ProviderProtocolError(
                "The video service says the video is ready but gave no link to it."
            )
        return TaskStatus(state=state, progress=Progress(percent=100), video_url=url)
    if state is ProviderState.FAILED:
        return TaskStatus(
            state=state,
            progress=Progress(percent=progress or 0),
            failure=describe_failure(
                *lookup_failure(failure_in), status=text(dig(failure_in, "status"))
            ),
        )
    return TaskStatus(state=state, progress=Progress(percent=progress or 0))


def status_from_body(body: object, *, url_optional: bool = False) -> TaskStatus:
    """The common case: status, progress, URL and failure read from one object."""
    if not isinstance(body, Mapping):
        raise ProviderProtocolError(
            "The video service's status answer is not an object."
        )
    state = parse_state(body.get("status"))
    return task_status(
        state,
        progress=lookup_progress(body),
        url=lookup_url(body),
        failure_in=body,
        url_optional=url_optional,
    )
