"""Who this process is among the replicas sharing one database, and how many there are.

Replicas split the platforms' edit budgets between them (each takes ``1/count``
of a workspace's allowance), so together they stay under the limits; the lease
keeper (``bot.tracking``) refreshes ``count`` from the heartbeats it writes.
"""

from __future__ import annotations

import os
import secrets
import socket

# The generated id: host, pid and a random tail, joined by this.
_SEP = "-"


def replica_id(configured: str | None = None) -> str:
    """``REPLICA_ID``, or one unique to this process: host, pid and a random tail
    (a restarted replica must not inherit the leases of the process it replaces)."""
    if configured:
        return configured
    return _SEP.join((socket.gethostname(), str(os.getpid()), secrets.token_hex(2)))


def gone(holder: str, me: str) -> bool:
    """Whether ``holder``, a generated id of another process, is surely dead.

    Only a process of this very host can tell: its pid runs no more, or it is
    this process's own pid (a restarted container is pid 1 again). Its leases
    may then go at once rather than after the lease time, so a single bot
    killed and restarted carries on straight away. Configured ids (and other
    hosts') are never judged; their leases run out instead.
    """
    if holder == me:
        return False
    host, _, rest = holder.rpartition(_SEP)[0].rpartition(_SEP)
    if not host or host != socket.gethostname() or not rest.isdigit():
        return False
    pid = int(rest)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


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
