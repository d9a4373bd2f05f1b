"""The wording of an audit entry, the same in Discord's embed and Slack's blocks.

Adapters add their markup around it: the member as a mention (which never pings),
the channel as a link, the result as a link to its message, and the Takedown
button where ``AuditEntry.can_take_down``.
"""

from __future__ import annotations

from bot.audit.entries import AuditEntry, AuditKind

TAKEDOWN_DONE = "Removed. The video message and the bot's copy are gone."


def audit_channel_text(channel: str | None) -> str:
    """The answer to choosing the audit channel (``channel`` in the platform's
    markup, or None: turned off)."""
    if channel is None:
        return (
            "Audit entries are no longer posted; they are still recorded "
            "(`sorabot audit`)."
        )
    return (
        f"Audit entries now go to {channel}: every video, refused attempt and "
        "settings change, with a Takedown button on videos."
    )


def audit_title(entry: AuditEntry) -> str:
    """The entry's headline: ``Video: done``, ``Refused (blocked_word)``, ..."""
    if entry.kind is AuditKind.VIDEO:
        return f"Video: {entry.outcome}"
    if entry.kind is AuditKind.REFUSED:
        return entry.outcome.capitalize()
    if entry.kind is AuditKind.SETTING:
        return f"Setting changed: {entry.setting}"
    return "Video taken down"


def actor_label(entry: AuditEntry) -> str:
    """Who ``user_id`` is in this entry: the member who asked, or a moderator."""
    if entry.kind in (AuditKind.SETTING, AuditKind.TAKEDOWN):
        return "Moderator"
    return "Member"


def _length(entry: AuditEntry) -> str:
    seconds = "" if entry.seconds is None else f"{entry.seconds} s"
    return f"{seconds} · HD" if entry.hd else seconds


def _value(value: str | None) -> str:
    return "(not set)" if value is None else value


def audit_facts(entry: AuditEntry) -> list[tuple[str, str]]:
    """``(label, value)`` pairs in plain text; values may quote members (escape)."""
    facts: list[tuple[str, str]] = []
    if entry.kind is AuditKind.SETTING:
        facts += [
            ("Setting", entry.setting),
            ("From", _value(entry.old_value)),
            ("To", _value(entry.new_value)),
        ]
        return facts
    if entry.prompt:
        facts.append(("Prompt", entry.prompt))
    if entry.kind is AuditKind.VIDEO:
        facts += [
            ("Provider", entry.provider or "-"),
            ("Model", entry.model),
            ("Length", _length(entry)),
        ]
        if entry.price is not None:
            facts.append(("Price", f"{entry.price:.2f} {entry.currency}".strip()))
    if entry.detail:
        facts.append(("Detail", entry.detail))
    if entry.task_id:
        facts.append(("Task", entry.task_id))
    return facts
