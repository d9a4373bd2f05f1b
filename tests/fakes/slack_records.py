"""What the fake Slack keeps: calls, messages and uploaded files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    """One Web API call as the fake received it."""

    at: float
    method: str
    args: dict[str, Any]
    status: int = 200
    error: str | None = None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    # Every version of (text, blocks), the posted one first.
    versions: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)


@dataclass
class UploadedFile:
    id: str
    filename: str
    title: str | None
    data: bytes
    channel: str | None = None
    thread_ts: str | None = None


def parse_blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return list(json.loads(value)) if value else []
    return list(value or [])
