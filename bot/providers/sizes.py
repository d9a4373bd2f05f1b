"""Spellings of the output size that several dialects share.

The sizes themselves live in each dialect's profile (``CapabilityProfile.size`` and
``hd_size``); these are only how a dialect writes them on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.models import Orientation

Size = tuple[int, int]

# The ``aspect_ratio`` spelling of the v2 and unified dialects.
ASPECT_RATIOS: Mapping[Orientation, str] = {
    Orientation.LANDSCAPE: "16:9",
    Orientation.PORTRAIT: "9:16",
}


def size_text(size: Size) -> str:
    """``1280x720``, the spelling OpenAI's ``size`` field uses."""
    return f"{size[0]}x{size[1]}"
