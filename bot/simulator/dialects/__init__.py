"""One module per relay dialect; ``DIALECTS`` holds one instance of each."""

from __future__ import annotations

from bot.simulator.dialects._base import Dialect
from bot.simulator.dialects._openai import OpenAI
from bot.simulator.dialects._sora import Sora
from bot.simulator.dialects._unified import Unified
from bot.simulator.dialects._v2 import V2
from bot.simulator.dialects._video_create import VideoCreate

DIALECTS: tuple[Dialect, ...] = (V2(), Sora(), Unified(), OpenAI(), VideoCreate())

__all__ = ["DIALECTS", "Dialect"]
