"""Measuring helpers the benchmarks share: /proc figures, percentiles.

Linux only (the figures come from ``/proc``), like the machines the benchmarks run on.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from bot.audit.entries import AuditEntry
from bot.models import ChatRef, Platform
from bot.ports import ChatThread, Scope
from bot.storage.sqlite import SqliteTaskStore

# The simulator subprocess of every benchmark demands this bearer key.
SIM_KEY = "bench-key"


def free_port() -> int:
    """A TCP port nobody listens on right now (for a subprocess told its port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB (``VmRSS``, ``VmHWM``); 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM), in MB."""
    return status_kb(pid, "VmHWM") / 1024


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) by nearest rank; NaN when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- governance enabled, refusing nothing -------------------------------------------

BLOCKED_ENTRIES = 1000


def blocked_entries(prefix: str) -> list[str]:
    """1,000 entries no bench prompt contains: words, phrases and a few patterns."""
    words = [f"{prefix}word{n:04d}" for n in range(BLOCKED_ENTRIES - 20)]
    phrases = [f"{prefix} phrase {n}" for n in range(10)]
    patterns = [f"re:{prefix}pat{n}[0-9]+x" for n in range(10)]
    return words + phrases + patterns


def governance_env() -> dict[str, str]:
    """Every limit set (none reached), a price table and 1,000 global entries."""
    prices = [
        {"price": "0.40"},
        {"model": "sora-2-pro", "price": "1.50"},
        {"model": "sora-2-pro", "hd": True, "price": "2.50"},
        {"provider": "openai", "model": "sora-2", "seconds": 15, "price": "0.60"},
    ]
    return {
        "USER_DAILY_VIDEOS": "1000",
        "SERVER_DAILY_VIDEOS": "1000000",
        "SERVER_DAILY_BUDGET": "1000000",
        "SERVER_MONTHLY_BUDGET": "10000000",
        "SORA_PRICES": json.dumps(prices),
        "BLOCKED_WORDS": ",".join(blocked_entries("global")),
    }


async def seed_server_words(db: Path, platform: Platform, workspace_id: str) -> None:
    """The server's own 1,000-entry list, stored before the bot starts."""
    async with SqliteTaskStore.open(db) as store:
        scope = Scope(platform=platform, workspace_id=workspace_id)
        await store.set_setting(
            scope, "blocked_words", json.dumps(blocked_entries("srv"))
        )


class OneThreadDirectory:
    """A command-line ``ChatDirectory`` whose tasks all share one thread: the
    benchmarks' chat surface, which only notes times."""

    platform = Platform.CLI

    def __init__(self, thread: ChatThread) -> None:
        self._thread = thread

    def thread(self, chat: ChatRef) -> ChatThread:
        return self._thread

    async def post_audit(self, channel: ChatRef, entry: AuditEntry) -> None:
        """The benchmarks configure no audit channel."""
