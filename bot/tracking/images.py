"""How a reference image reaches a provider: the hook the tracker calls per create.

The runtime passes one that fits and hosts images (``bot.imaging``); without one
the image goes as it came, for providers that take an upload of any size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.models import GenerationRequest, ImageInput
from bot.ports import PreparedImage, VideoProvider
from bot.validation import sniff_image_type

PrepareImage = Callable[
    [ImageInput, GenerationRequest, VideoProvider], Awaitable[PreparedImage]
]


async def upload_as_is(
    image: ImageInput, request: GenerationRequest, provider: VideoProvider
) -> PreparedImage:
    """The image unchanged, for providers that take an upload of any size."""
    return PreparedImage(
        filename=image.filename,
        content_type=sniff_image_type(image.data) or image.content_type,
        data=image.data,
    )
