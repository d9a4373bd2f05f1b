"""The hook for the audit log: what the governance layer reports, and a no-op.

The audit channel itself (posting entries, takedown) is built elsewhere; it
implements ``AuditSink`` and is handed to ``Governor``. Until then nothing is
recorded beyond the log.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from bot.models import GenerationRequest, utcnow
from bot.ports import Scope


class RefusalReason(StrEnum):
    BLOCKED_WORD = "blocked_word"
    CHANNEL = "channel"
    ROLE = "role"
    USER = "user"
    QUOTA = "quota"


class RefusedAttempt(BaseModel):
    """A request refused before anything was sent.

    ``detail`` is for moderators only (the matched text, the limit's name);
    ``message`` is what the member was told.
    """

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    reason: RefusalReason
    detail: str
    message: str
    at: datetime


class SettingChange(BaseModel):
    """A moderator changed a setting: who, where, what, from what to what."""

    model_config = ConfigDict(frozen=True)

    scope: Scope
    key: str
    before: str | None
    after: str | None
    by: str
    at: datetime


class AuditSink(Protocol):
    async def refused(self, attempt: RefusedAttempt) -> None: ...

    async def setting_changed(self, change: SettingChange) -> None: ...


class NoAudit:
    """The default sink: records nothing (the log line is written anyway)."""

    async def refused(self, attempt: RefusedAttempt) -> None:
        return None

    async def setting_changed(self, change: SettingChange) -> None:
        return None


def refused(
    request: GenerationRequest, reason: RefusalReason, detail: str, message: str
) -> RefusedAttempt:
    return RefusedAttempt(
        request=request, reason=reason, detail=detail, message=message, at=utcnow()
    )
