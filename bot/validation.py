"""Checks a request before any cost: the prompt, the image, and the providers.

The generic rules (prompt, image) live here; what a provider can make is its
``CapabilityProfile``'s call (``first_refusal``). Every violation is a
``UserInputError`` whose message tells the member what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.capabilities import CapabilityProfile, first_refusal
from bot.errors import UserInputError
from bot.models import GenerationRequest, ImageInput
from bot.wording import Advice

MAX_PROMPT_CHARS = 1000
# The provider documents cap reference images at 10 MB.
MAX_IMAGE_BYTES = 10 * 1024 * 1024

# Magic numbers, because a file's name and the platform's content type can lie.
_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_image_type(data: bytes) -> str | None:
    """The image's real MIME type from its first bytes, or None if not one we take."""
    for magic, mime in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def validate_image(image: ImageInput) -> str:
    """Check a reference image; return its sniffed MIME type."""
    if image.size == 0:
        raise UserInputError(f"`{image.filename}` is empty. {Advice.ATTACH_PICTURE}")
    if image.size > MAX_IMAGE_BYTES:
        megabytes = image.size / (1024 * 1024)
        raise UserInputError(
            f"The image `{image.filename}` is {megabytes:.1f} MB; "
            f"reference images can be at most 10 MB. {Advice.ATTACH_SMALLER}"
        )
    mime = sniff_image_type(image.data)
    if mime is None:
        raise UserInputError(
            f"`{image.filename}` is not a JPEG, PNG or WebP image. "
            f"{Advice.ATTACH_FORMAT}"
        )
    return mime


def validate_request(
    request: GenerationRequest, profiles: Sequence[CapabilityProfile]
) -> None:
    """Raise ``UserInputError`` if ``request`` must not be sent to any provider.

    ``profiles`` are the configured providers' in priority order: the request is
    fine if one of them can make all of it.
    """
    prompt = request.prompt.strip()
    if not prompt:
        raise UserInputError("The prompt is empty. Describe the video you want.")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise UserInputError(
            f"The prompt is {len(request.prompt)} characters; the limit is "
            f"{MAX_PROMPT_CHARS}. Shorten it."
        )
    refusal = first_refusal(profiles, request)
    if refusal is not None:
        raise UserInputError(refusal)
    if request.image is not None:
        validate_image(request.image)
