"""Faults the tests queue with ``Simulator.inject`` or ask for in a prompt.

Two families:

* request faults hit the next matching HTTP requests (``on`` = ``create``, ``query``,
  ``download`` or ``any``): ``rate_limit`` (429 + ``Retry-After``), ``server_error``
  (500 or ``status``), ``slow`` (answer after ``seconds``), ``malformed`` (``mode`` =
  ``not_json`` or ``missing_fields``), ``auth`` (401), ``not_found``, ``hang``
  (the request is read, and recorded, but never answered: a relay that took the
  body and went quiet) and ``drop`` (the request is read, then the connection is
  closed without an answer);
* task faults shape the next created tasks: ``moderation`` (the video fails review
  after passing 90 %), ``moderation_prompt`` and ``moderation_image`` (refused at
  once), ``fail`` (a plain failure half-way), ``large`` (a padded result of ``bytes``)
  and ``video_url`` (openai dialect: completed answers carry a relay ``video_url``).

Prompt markers let end-to-end chat tests ask for faults through the real bot:
``#moderation`` fails after 90 %, ``#ratelimit`` and ``#servererror`` make the task's
first status query answer 429 and 500 (retry-safe, unlike a refused create).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.simulator._tasks import Flag

Target = Literal["any", "create", "query", "download"]
TARGETS: tuple[Target, ...] = ("any", "create", "query", "download")

# Each fault's parameters and their defaults.
REQUEST_FAULTS: dict[str, dict[str, Any]] = {
    "rate_limit": {"seconds": 1},
    "server_error": {"status": 500},
    "slow": {"seconds": 1.0},
    "malformed": {"mode": "not_json"},
    "auth": {},
    "not_found": {},
    "hang": {},
    "drop": {},
}
TASK_FAULTS: dict[str, Flag] = {
    "moderation": Flag.MODERATION,
    "moderation_prompt": Flag.MODERATION_PROMPT,
    "moderation_image": Flag.MODERATION_IMAGE,
    "fail": Flag.FAIL,
    "large": Flag.LARGE,
    "video_url": Flag.VIDEO_URL,
}
# Bigger than Discord's and Slack's default upload limits, so "post a link" shows.
DEFAULT_LARGE_BYTES = 30 * 1024 * 1024
MALFORMED_MODES = ("not_json", "missing_fields")
# Where a fault lands when the test does not say.
_DEFAULT_TARGET: dict[str, Target] = {
    "not_found": "query",
    "hang": "create",
    "drop": "create",
}

_MARKERS: dict[str, Flag] = {
    "moderation": Flag.MODERATION,
    "ratelimit": Flag.FIRST_QUERY_RATE_LIMIT,
    "servererror": Flag.FIRST_QUERY_SERVER_ERROR,
}
_MARKER_RE = re.compile(r"#(moderation|ratelimit|servererror)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RequestFault:
    """One use of a request fault, with its parameters resolved."""

    kind: str
    params: dict[str, Any]


@dataclass(slots=True)
class _Queued:
    kind: str
    remaining: int
    on: Target
    params: dict[str, Any] = field(default_factory=dict)


def marker_flags(prompt: str) -> Flag:
    """The task faults a prompt asks for with ``#moderation`` and friends."""
    flags = Flag.NONE
    for match in _MARKER_RE.finditer(prompt):
        flags |= _MARKERS[match.group(1).lower()]
    return flags


class FaultQueue:
    """Faults waiting for their requests or tasks, consumed first in, first out."""

    def __init__(self) -> None:
        self._requests: deque[_Queued] = deque()
        self._tasks: deque[_Queued] = deque()

    def inject(self, kind: str, times: int, params: dict[str, Any]) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind in TASK_FAULTS:
            allowed = {"bytes"} if kind == "large" else set()
            _check_params(kind, params, allowed)
            size = params.get("bytes", DEFAULT_LARGE_BYTES)
            if not isinstance(size, int) or not 0 < size < 2**32:
                raise ValueError("large bytes must be an int between 1 and 4 GiB")
            self._tasks.append(_Queued(kind, times, "create", params))
            return
        if kind not in REQUEST_FAULTS:
            known = sorted([*REQUEST_FAULTS, *TASK_FAULTS])
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(known)}")
        defaults = REQUEST_FAULTS[kind]
        on = params.pop("on", _DEFAULT_TARGET.get(kind, "any"))
        if on not in TARGETS:
            raise ValueError(f"on must be one of {', '.join(TARGETS)}, not {on!r}")
        _check_params(kind, params, set(defaults))
        resolved = {**defaults, **params}
        if kind == "malformed" and resolved["mode"] not in MALFORMED_MODES:
            raise ValueError(f"malformed mode must be one of {MALFORMED_MODES}")
        self._requests.append(_Queued(kind, times, on, resolved))

    def take_request(self, target: Target) -> RequestFault | None:
        """The next request fault aimed at ``target`` requests, if any."""
        for queued in self._requests:
            if queued.on in ("any", target):
                return RequestFault(
                    queued.kind, dict(self._use(self._requests, queued))
                )
        return None

    def take_task(self) -> tuple[Flag, int]:
        """Flags for the next created task, and its padded size when ``large``."""
        flags, large = Flag.NONE, 0
        for queued in list(self._tasks):
            if TASK_FAULTS[queued.kind] & flags:
                continue  # one use per task; the next task gets the next use
            flags |= TASK_FAULTS[queued.kind]
            params = self._use(self._tasks, queued)
            if queued.kind == "large":
                large = params.get("bytes", DEFAULT_LARGE_BYTES)
        return flags, large

    @staticmethod
    def _use(queue: deque[_Queued], queued: _Queued) -> dict[str, Any]:
        queued.remaining -= 1
        if queued.remaining == 0:
            queue.remove(queued)
        return queued.params


def _check_params(kind: str, params: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"fault {kind!r} takes no parameter {sorted(unknown)}")
