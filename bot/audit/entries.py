"""One audit entry per event: a finished video, a refused attempt, a settings
change or a takedown.

One flat model for all four, so the database keeps one table, the export one set
of columns, and a moderator reading the channel sees the same fields as a CSV.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bot.models import (
    ChatRef,
    GenerationRequest,
    Platform,
    Requester,
    Task,
    utcnow,
)

if TYPE_CHECKING:
    # Only named here: governance imports the ports, which import this module.
    from bot.governance import RefusedAttempt, SettingChange


class AuditKind(StrEnum):
    VIDEO = "video"  # a generation finished, failed or was cancelled
    REFUSED = "refused"  # a blocked word, a gate, a quota: nothing was sent
    SETTING = "setting"  # a moderator changed a setting
    TAKEDOWN = "takedown"  # a moderator removed a video


class AuditEntry(BaseModel):
    """What happened, where, by whom; fields that do not apply stay empty.

    ``user_id``/``user_name`` are the member who asked (video, refused) or the
    moderator who acted (setting, takedown). ``result`` is where the video's
    status message and thread are, so the audit channel can link to it.
    """

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    at: datetime
    kind: AuditKind
    platform: Platform
    workspace_id: str
    channel_id: str = ""
    user_id: str = ""
    user_name: str = ""
    task_id: str | None = None
    prompt: str = ""
    provider: str = ""
    model: str = ""
    seconds: int | None = None
    hd: bool = False
    price: Decimal | None = None
    currency: str = ""
    outcome: str = ""
    detail: str = ""
    setting: str = ""
    old_value: str | None = None
    new_value: str | None = None
    result: ChatRef | None = None

    @property
    def can_take_down(self) -> bool:
        """A delivered video that is still up: the entry offers Takedown."""
        return self.kind is AuditKind.VIDEO and self.outcome == "done"


def _about(request: GenerationRequest, **fields: object) -> AuditEntry:
    """An entry about ``request``: where it was asked, by whom, for what."""
    return AuditEntry.model_validate(
        {
            "at": utcnow(),
            "platform": request.chat.platform,
            "workspace_id": request.chat.workspace_id,
            "channel_id": request.chat.channel_id,
            "user_id": request.requester.user_id,
            "user_name": request.requester.display_name,
            "prompt": request.prompt,
            "model": request.model,
            "seconds": request.seconds,
            "hd": request.hd,
            **fields,
        }
    )


def video_entry(
    task: Task,
    outcome: str,
    provider: str,
    price: Decimal | None = None,
    currency: str = "",
) -> AuditEntry:
    """A generation that ended; ``outcome`` and ``provider`` as
    ``bot.rendering`` labels them."""
    return _about(
        task.request,
        kind=AuditKind.VIDEO,
        task_id=task.id,
        provider=provider,
        price=price,
        currency=currency,
        outcome=outcome,
        result=task.chat,
    )


def refused_entry(attempt: RefusedAttempt) -> AuditEntry:
    """An attempt refused before anything was sent (a blocked word, a gate, a
    quota); ``detail`` (the matched text, the limit) is for moderators only."""
    return _about(
        attempt.request,
        at=attempt.at,
        kind=AuditKind.REFUSED,
        outcome=f"refused ({attempt.reason.value})",
        detail=attempt.detail,
    )


def setting_entry(change: SettingChange) -> AuditEntry:
    """A settings change in a server, or one channel of it."""
    return AuditEntry(
        at=change.at,
        kind=AuditKind.SETTING,
        platform=change.scope.platform,
        workspace_id=change.scope.workspace_id,
        channel_id=change.scope.channel_id or "",
        user_id=change.by,
        setting=change.key,
        old_value=change.before,
        new_value=change.after,
    )


def takedown_entry(task: Task, who: Requester, provider: str) -> AuditEntry:
    """A moderator removed ``task``'s video; ``detail`` names who had asked."""
    asker = task.request.requester
    who_asked = asker.display_name or asker.user_id
    return _about(
        task.request,
        at=task.taken_down_at or utcnow(),
        kind=AuditKind.TAKEDOWN,
        user_id=who.user_id,
        user_name=who.display_name,
        task_id=task.id,
        provider=provider,
        outcome="taken down",
        detail=f"asked by {who_asked}",
        result=task.chat,
    )
