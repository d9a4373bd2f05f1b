"""The audit log: what was made, refused and changed on each server, and takedowns.

``entries`` holds the record itself (one ``AuditEntry`` per event, the same in the
database, the audit channel and ``sorabot audit``); ``log`` writes it (``AuditLog``,
the port governance and the service call); ``takedown`` removes a video for a
moderator; ``export`` prints the record as CSV or JSON.
"""

from bot.audit.entries import AuditEntry, AuditKind

__all__ = ["AuditEntry", "AuditKind"]
