"""Governance: who may use ``/sora`` where, what they may ask, and how much.

Decided entirely here; adapters parse moderators' commands and render the
sentences. One module per job: ``_quota`` (periods, limits, the refusal sentence),
``_prices`` (the price table), ``_words`` (normalising and matching blocked words),
``_gates`` (channels, roles, users), ``_refunds`` (which failures are refunded),
``_settings`` (the stored settings), ``_audit`` (the audit hook) and
``_governor`` (the front door the service and tracker call).
"""

from bot.governance._audit import (
    AuditSink,
    NoAudit,
    RefusalReason,
    RefusedAttempt,
    SettingChange,
)
from bot.governance._gates import GroupDirectory
from bot.governance._governor import BLOCKED, Governor, Refused
from bot.governance._prices import PriceEntry, price_of
from bot.governance._quota import Limit
from bot.governance._refunds import NoRefunds, RefundKind, Refunds
from bot.governance._settings import parse_limit
from bot.governance._words import normalise

__all__ = [
    "BLOCKED",
    "AuditSink",
    "Governor",
    "GroupDirectory",
    "Limit",
    "NoAudit",
    "NoRefunds",
    "PriceEntry",
    "RefundKind",
    "Refunds",
    "RefusalReason",
    "Refused",
    "RefusedAttempt",
    "SettingChange",
    "normalise",
    "parse_limit",
    "price_of",
]
