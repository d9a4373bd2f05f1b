"""Which failures give a video back to the member's and the server's counts.

``REFUND_ON`` names the failure kinds that are refunded (default: all four);
an operator whose relay bills moderation failures sets
``REFUND_ON=error,timeout,cancelled``. A video that never reached the provider
(no provider task id) never counted and is always given back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from bot.models import FailureKind, Task


class RefundKind(StrEnum):
    ERROR = "error"  # the provider failed it, refused it, or the bot could not submit
    TIMEOUT = "timeout"  # not finished by TASK_DEADLINE
    MODERATION = "moderation"  # refused by moderation, at any stage
    CANCELLED = "cancelled"  # cancelled before it finished


UNSENT = "unsent"

_MODERATION = frozenset(
    {
        FailureKind.MODERATION,
        FailureKind.MODERATION_PROMPT,
        FailureKind.MODERATION_IMAGE,
        FailureKind.MODERATION_OUTPUT,
    }
)


def refund_kind(failure: FailureKind | None) -> RefundKind | None:
    """The refund kind of a failure (None: cancelled); None when nothing is owed.

    A delivery failure means the video was made (and paid for): not refunded.
    """
    if failure is None:
        return RefundKind.CANCELLED
    if failure in _MODERATION:
        return RefundKind.MODERATION
    if failure is FailureKind.TIMEOUT:
        return RefundKind.TIMEOUT
    if failure is FailureKind.DELIVERY:
        return None
    return RefundKind.ERROR


class Refunds(Protocol):
    """What the tracker needs: give a failed or cancelled task back (``Governor``)."""

    async def refund(self, task: Task, failure: FailureKind | None) -> None: ...


class NoRefunds:
    """For a tracker run without governance (tests of tracking alone)."""

    async def refund(self, task: Task, failure: FailureKind | None) -> None:
        return None
