"""A built-in fake of the Sora relay APIs, so the bot runs (and is tested) for free.

With no ``SORA_API_KEY`` the bot talks to this simulator over HTTP on loopback, so
the real provider clients run. It speaks all five dialects on their real routes,
validates create requests as strictly as the relays do, advances tasks through
queued -> running -> completed in a few seconds, serves a real MP4, sends callbacks
and signed webhooks, and injects faults on demand::

    async with Simulator(duration=0.5) as sim:
        sim.inject("rate_limit", seconds=1)
        ...  # point a provider client at sim.base_url

``python -m bot.simulator --port 0`` runs it as its own process.
"""

from __future__ import annotations

from bot.simulator._faults import REQUEST_FAULTS, TASK_FAULTS
from bot.simulator._media import sample_video
from bot.simulator._records import CallbackRecord, FileRecord, RecordedRequest
from bot.simulator._server import Simulator

__all__ = [
    "REQUEST_FAULTS",
    "TASK_FAULTS",
    "CallbackRecord",
    "FileRecord",
    "RecordedRequest",
    "Simulator",
    "sample_video",
]
