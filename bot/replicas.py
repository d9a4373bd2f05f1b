"""Who this process is among the replicas sharing one database, and how many there are.

Replicas split the platforms' edit budgets between them (each takes ``1/count``
of a workspace's allowance), so together they stay under the limits; the lease
keeper (``bot.tracking``) refreshes ``count`` from the heartbeats it writes.
"""

from __future__ import annotations

import os
import secrets
import socket


def replica_id(configured: str | None = None) -> str:
    """``REPLICA_ID``, or one unique to this process: host, pid and a random tail
    (a restarted replica must not inherit the leases of the process it replaces)."""
    if configured:
        return configured
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Replicas:
    """This replica's id and how many are alive (itself included, at least 1)."""

    def __init__(self, holder: str) -> None:
        self.id = holder
        self._count = 1

    @property
    def count(self) -> int:
        return self._count

    def seen(self, count: int) -> None:
        """The latest heartbeat's figure; never below one (this replica runs)."""
        self._count = max(1, count)
