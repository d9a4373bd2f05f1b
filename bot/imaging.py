"""Reference images made acceptable to the provider: fitted, then sent or linked.

Some dialects refuse an image whose size differs from the video's ("Inpaint image
must match the requested width and height", e.g. 720x1280), so the bot center-crops
and resizes it itself rather than letting the task fail. Dialects that take a URL get
the platform's public link when the image is unchanged, or a short-lived link to the
bot's own copy (``bot.media``); dialects that take an upload get the bytes.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import PurePath

from PIL import Image, ImageOps

from bot.errors import UserInputError
from bot.media import MediaHost
from bot.models import GenerationRequest, ImageInput
from bot.ports import PreparedImage, VideoProvider
from bot.validation import validate_image
from bot.wording import Advice

log = logging.getLogger(__name__)

# Enough for 50-megapixel phone photos; a 10 MB file claiming more is a decompression
# bomb, and decoding it would take gigabytes. Pillow's own guard only warns up to
# twice its MAX_IMAGE_PIXELS, so we refuse at the lower of the two.
MAX_PIXELS = 64_000_000
JPEG_QUALITY = 92
# Only the three formats the validation accepts are ever decoded: fewer parsers
# exposed to hostile files.
_FORMATS = ("JPEG", "PNG", "WEBP")
_EXIF_ORIENTATION = 0x0112
_AXES_SWAPPED = frozenset({5, 6, 7, 8})
_DAMAGED = (
    f"The image could not be read; it may be damaged or cut short. "
    f"{Advice.ATTACH_ANOTHER}"
)


def _open(data: bytes) -> Image.Image:
    """Read only the header, refusing bombs before any pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserInputError(_too_many_pixels()) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise UserInputError(_DAMAGED) from None
    width, height = image.size
    if width * height > min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS):
        raise UserInputError(_too_many_pixels(width, height))
    return image


def _too_many_pixels(width: int = 0, height: int = 0) -> str:
    size = f" ({width}x{height})" if width else ""
    return (
        f"The image has too many pixels{size}; the limit is "
        f"{MAX_PIXELS // 1_000_000} megapixels. {Advice.ATTACH_SMALLER}"
    )


def _orientation(image: Image.Image) -> int:
    # Only EXIF met in the header: asking a PNG for a late eXIf chunk would decode
    # every pixel just to learn it has none.
    if "exif" not in image.info:
        return 1
    return int(image.getexif().get(_EXIF_ORIENTATION, 1))


def _unchanged(image: Image.Image, size: tuple[int, int]) -> bool:
    """Already the right size, as stored and as displayed."""
    return image.size == size and _orientation(image) == 1


def fit_image(data: bytes, size: tuple[int, int]) -> tuple[bytes, str]:
    """Center-crop ``data`` to the aspect of ``size`` and resize it to exactly that.

    Returns the same bytes when the image already has that size. Otherwise PNG for
    a PNG or an image with transparency, else JPEG at quality 92. EXIF rotation is
    applied first, so the crop is of the picture as the member saw it. CPU-heavy:
    call it in a thread.

    Raises:
        UserInputError: the data is not a readable JPEG, PNG or WebP image, or
            has too many pixels.
    """
    image = _open(data)
    try:
        if _unchanged(image, size):
            image.load()  # a truncated file must fail here, not at the provider
            return data, Image.MIME[str(image.format)]
        source_format = image.format
        if source_format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers
            # the target: much less work for a 12-megapixel photo.
            swapped = _orientation(image) in _AXES_SWAPPED
            image.draft("RGB", (size[1], size[0]) if swapped else size)
        image.load()
        upright = ImageOps.exif_transpose(image)
        alpha = upright.has_transparency_data
        fitted = ImageOps.fit(
            upright.convert("RGBA" if alpha else "RGB"),
            size,
            method=Image.Resampling.LANCZOS,
        )
    except (OSError, ValueError, SyntaxError, EOFError):
        raise UserInputError(_DAMAGED) from None
    out = io.BytesIO()
    if alpha or source_format == "PNG":
        fitted.save(out, "PNG")
        return out.getvalue(), "image/png"
    fitted.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), "image/jpeg"


def ensure_decodable(data: bytes) -> None:
    """Decode every pixel once, refusing a damaged, cut-off or oversized image.

    The header alone looks fine for a PNG cut short in its pixel data, so the
    service calls this before it posts a status message or sends anything: the
    member hears about it privately, not after the job was announced. CPU-heavy:
    call it in a thread.

    Raises:
        UserInputError: not a readable JPEG, PNG or WebP, or too many pixels.
    """
    image = _open(data)
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError):
        raise UserInputError(_DAMAGED) from None


def _renamed(filename: str, content_type: str) -> str:
    stem = PurePath(filename).stem or "image"
    return f"{stem}.png" if content_type == "image/png" else f"{stem}.jpg"


async def prepare_image(
    image: ImageInput,
    request: GenerationRequest,
    provider: VideoProvider,
    media: MediaHost,
) -> PreparedImage:
    """The reference image as the provider will receive it.

    Fitted to the profile's ``output_size(request)`` when the dialect demands the
    exact size. For a URL dialect, ``url`` is the platform's public link when the bytes
    are unchanged, else a link to the bot's own copy.

    Raises:
        UserInputError: the image is unreadable or too large.
        ConfigError: the image must be hosted but ``PUBLIC_URL`` is not set
            (``check_image_reachable`` catches this at submit time).
    """
    profile = provider.profile
    data, content_type = image.data, validate_image(image)
    if profile.image_must_match_size:
        size = profile.output_size(request)
        data, content_type = await asyncio.to_thread(fit_image, image.data, size)
    changed = data != image.data
    url: str | None = None
    if profile.image_transport == "url":
        if image.source_url and not changed:
            url = image.source_url
        else:
            url = media.publish(data, content_type)
    return PreparedImage(
        filename=_renamed(image.filename, content_type) if changed else image.filename,
        content_type=content_type,
        data=data,
        url=url,
    )


def check_image_reachable(
    image: ImageInput | None,
    provider: VideoProvider,
    media: MediaHost,
    *,
    request: GenerationRequest | None = None,
) -> None:
    """Refuse, before anything is stored, an image the provider could never fetch.

    That is a URL-only dialect, no ``PUBLIC_URL``, and an image with no public
    platform link or one that must be fitted first. Pass ``request`` so an image
    that already has the output size is recognised; without it, a dialect that
    fits images is assumed to need the change. Reads only the image's header.

    Raises:
        UserInputError: for the member; a WARNING tells the operator what to set.
    """
    profile = provider.profile
    if image is None or profile.image_transport != "url":
        return
    if media.public_url is not None:
        return
    size: tuple[int, int] | None = None
    if profile.image_must_match_size and request is not None:
        size = profile.output_size(request)
    must_fit = profile.image_must_match_size and (
        size is None or not _unchanged(_open(image.data), size)
    )
    if image.source_url and not must_fit:
        return
    log.warning(
        "A reference image must be hosted by the bot for the %s dialect, but "
        "PUBLIC_URL is not set. Set PUBLIC_URL to the address where this bot's "
        "HTTP server is reachable from the internet, or use a dialect that takes "
        "uploads (openai).",
        provider.dialect,
    )
    if image.source_url and size is not None:
        why = f"it must first be resized to {size[0]}x{size[1]}"
        works = f" An image of exactly {size[0]}x{size[1]} pixels would work."
    else:
        why = (
            "it is not at a public link"
            if not image.source_url
            else "it must be resized"
        )
        works = ""
    raise UserInputError(
        f"I can't pass this image to the video service: {why}, and this bot has no "
        f"public address to share it from.{works} {Advice.NO_PUBLIC_URL}"
    )
