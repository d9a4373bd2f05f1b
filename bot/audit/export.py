"""``sorabot audit``: the audit record from the database, as CSV or JSON.

The same entries the audit channels show, one row each, oldest first, so an
operator can hand a server's record to its moderators or keep it elsewhere.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, TextIO

from bot.audit.entries import AuditEntry
from bot.errors import UserInputError

Format = Literal["csv", "json"]

COLUMNS = (
    "id",
    "at",
    "kind",
    "platform",
    "server",
    "channel",
    "user_id",
    "user_name",
    "task_id",
    "prompt",
    "provider",
    "model",
    "seconds",
    "hd",
    "price",
    "currency",
    "outcome",
    "detail",
    "setting",
    "old_value",
    "new_value",
    "result_thread",
    "result_message",
)


def parse_since(text: str) -> datetime:
    """``2026-12-01`` (midnight UTC) or an ISO time; naive times are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise UserInputError(
                f"--since {text!r} is not a date like 2026-12-01."
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def row(entry: AuditEntry) -> dict[str, Any]:
    """One entry as flat columns (``result`` split into its thread and message)."""
    result = entry.result
    message = None
    if result is not None:
        message = result.video_message_id or result.status_message_id
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "kind": entry.kind.value,
        "platform": entry.platform.value,
        "server": entry.workspace_id,
        "channel": entry.channel_id,
        "user_id": entry.user_id,
        "user_name": entry.user_name,
        "task_id": entry.task_id,
        "prompt": entry.prompt,
        "provider": entry.provider,
        "model": entry.model,
        "seconds": entry.seconds,
        "hd": entry.hd,
        "price": None if entry.price is None else str(entry.price),
        "currency": entry.currency,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "setting": entry.setting,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "result_thread": None if result is None else result.thread_id,
        "result_message": message,
    }


def write(entries: Sequence[AuditEntry], out: TextIO, fmt: Format) -> None:
    rows = [row(e) for e in entries]
    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
