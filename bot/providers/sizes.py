"""The one table of output sizes: what each dialect renders per orientation and HD.

Image fitting reads it too: relays that say "Inpaint image must match the requested
width and height" (for example 720x1280) get a reference image of exactly this size.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.models import GenerationRequest, Orientation

Size = tuple[int, int]

_LANDSCAPE = Orientation.LANDSCAPE
_PORTRAIT = Orientation.PORTRAIT

# 720p for everyone; Sora 2 Pro's HD is 1792x1024 (OpenAI's ``size`` enum), which
# the v2 ``hd`` flag and video-create's ``size: large`` select too.
_SD: Mapping[Orientation, Size] = {_LANDSCAPE: (1280, 720), _PORTRAIT: (720, 1280)}
_HD: Mapping[Orientation, Size] = {_LANDSCAPE: (1792, 1024), _PORTRAIT: (1024, 1792)}

OUTPUT_SIZES: Mapping[str, Mapping[bool, Mapping[Orientation, Size]]] = {
    "v2": {False: _SD, True: _HD},
    "sora": {False: _SD},
    "unified": {False: _SD},
    "openai": {False: _SD, True: _HD},
    "video-create": {False: _SD, True: _HD},
}

# The ``aspect_ratio`` spelling of the v2 and unified dialects.
ASPECT_RATIOS: Mapping[Orientation, str] = {_LANDSCAPE: "16:9", _PORTRAIT: "9:16"}

# The v2 and video-create documents: "when set to 25, HD has no effect".
HD_MAX_SECONDS = 15


def hd_applies(request: GenerationRequest) -> bool:
    """Whether the provider will actually render this request in HD."""
    return request.hd and request.seconds <= HD_MAX_SECONDS


def output_size(dialect: str, request: GenerationRequest) -> Size:
    """(width, height) the dialect renders for ``request``."""
    by_hd = OUTPUT_SIZES[dialect]
    return by_hd.get(hd_applies(request), by_hd[False])[request.orientation]


def size_text(size: Size) -> str:
    """``1280x720``, the spelling OpenAI's ``size`` field uses."""
    return f"{size[0]}x{size[1]}"
