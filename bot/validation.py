"""Checks a request against what the chosen model and dialect accept, before any cost.

All rules live here, in one place, driven by the ``ModelSpec`` table in settings and
the dialect's ``ProviderFeatures``. Every violation is a ``UserInputError`` whose
message tells the member what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import ModelSpec
from bot.errors import UserInputError
from bot.models import GenerationRequest, ImageInput
from bot.ports import ProviderFeatures
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


def _model_spec(models: Sequence[ModelSpec], name: str) -> ModelSpec:
    for spec in models:
        if spec.name == name:
            return spec
    names = ", ".join(f"`{m.name}`" for m in models)
    raise UserInputError(f"Unknown model `{name}`. Choose one of {names}.")


def _seconds_list(seconds: Sequence[int]) -> str:
    parts = [str(s) for s in seconds]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]


def validate_request(
    request: GenerationRequest,
    models: Sequence[ModelSpec],
    features: ProviderFeatures | None = None,
) -> None:
    """Raise ``UserInputError`` if ``request`` must not be sent to the provider."""
    prompt = request.prompt.strip()
    if not prompt:
        raise UserInputError("The prompt is empty. Describe the video you want.")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise UserInputError(
            f"The prompt is {len(request.prompt)} characters; the limit is "
            f"{MAX_PROMPT_CHARS}. Shorten it."
        )

    spec = _model_spec(models, request.model)
    if request.seconds not in spec.seconds:
        longer = [
            m.name
            for m in models
            if request.seconds in m.seconds and m.name != spec.name
        ]
        if longer:
            raise UserInputError(
                f"{request.seconds}-second videos need {' or '.join(longer)}."
            )
        raise UserInputError(
            f"{spec.name} makes {_seconds_list(spec.seconds)}-second videos, "
            f"not {request.seconds}."
        )
    if request.hd and not spec.hd:
        with_hd = [m.name for m in models if m.hd]
        need = " or ".join(with_hd) if with_hd else "a model with HD"
        raise UserInputError(f"HD videos need {need}.")

    if features is not None:
        if request.seconds > features.max_seconds:
            raise UserInputError(
                f"This bot's video service makes videos of at most "
                f"{features.max_seconds} seconds."
            )
        if request.hd and not features.hd:
            raise UserInputError("This bot's video service does not offer HD.")
        if request.style and request.style not in features.styles:
            if features.styles:
                styles = ", ".join(f"`{s}`" for s in features.styles)
                raise UserInputError(
                    f"Unknown style `{request.style}`. Choose one of {styles}."
                )
            raise UserInputError("This bot's video service does not offer styles.")

    if request.image is not None:
        validate_image(request.image)
