"""One module per relay dialect; ``DIALECTS`` holds one instance of each."""

from __future__ import annotations

from bot.simulator.dialects._base import Dialect
from bot.simulator.dialects._openai import OpenAI

DIALECTS: tuple[Dialect, ...] = (OpenAI(),)

__all__ = ["DIALECTS", "Dialect"]
