"""The result video and the reference images the simulator downloads."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from importlib import resources

import aiohttp
from aiohttp import web

from bot.simulator._records import FileRecord, RecordedRequest, image_header
from bot.simulator.dialects._base import Dialect, Draft, ImageRule
from bot.simulator.dialects._fields import Invalid

# The documents' wording, which clients may match on.
MATCH_SIZE_MESSAGE = "Inpaint image must match the requested width and height"
# The unified document's image limits ("no more than 10MB", .jpg/.jpeg/.png/.webp),
# held to every dialect's images. The simulator's own figures, not the bot's: a fake
# that shared the bot's constants could not catch them wrong.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_CHUNK = 256 * 1024
_FREE_HEADER = struct.Struct(">I4s")
_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)


@functools.cache
def sample_video() -> bytes:
    """The shipped MP4: 4 s of test pattern, 320x180, H.264 baseline, ~19 KB."""
    return resources.files("bot.simulator").joinpath("assets/sample.mp4").read_bytes()


def video_size(large_bytes: int) -> int:
    """The served file's length: the sample, or ``large_bytes`` when padded."""
    return max(len(sample_video()), large_bytes)


async def send_video(request: web.Request, large_bytes: int = 0) -> web.StreamResponse:
    """Stream the sample, padded to ``large_bytes`` with a trailing ``free`` box.

    ISO BMFF players skip ``free`` boxes, so the padded file stays a valid, playable
    MP4 while being as big as an "oversized result" test needs. The padding is
    streamed, never held in memory.
    """
    sample = sample_video()
    padding = video_size(large_bytes) - len(sample)
    if 0 < padding < _FREE_HEADER.size:
        padding = 0  # too small for a box header; serve the plain sample
    response = web.StreamResponse(
        headers={"Content-Type": "video/mp4", "Accept-Ranges": "none"}
    )
    response.content_length = len(sample) + padding
    await response.prepare(request)
    await response.write(sample)
    if padding:
        await response.write(_FREE_HEADER.pack(padding, b"free"))
        left = padding - _FREE_HEADER.size
        zeros = bytes(min(_CHUNK, left))
        while left > 0:
            chunk = zeros[: min(_CHUNK, left)]
            await response.write(chunk)
            left -= len(chunk)
    await response.write_eof()
    return response


@dataclass(frozen=True, slots=True)
class Fetched:
    """An image URL's bytes, or why they could not be had."""

    data: bytes
    record: FileRecord | None
    error: str | None = None


async def fetch_image(session: aiohttp.ClientSession, url: str) -> Fetched:
    """Download a reference image the way a relay would, reading at most 10 MB + 1."""
    try:
        async with session.get(url, timeout=_FETCH_TIMEOUT) as response:
            if response.status != 200:
                return Fetched(
                    b"", None, f"downloading it answered HTTP {response.status}"
                )
            data = await _read_at_most(response.content, MAX_IMAGE_BYTES + 1)
            content_type = response.headers.get("Content-Type", "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Fetched(b"", None, f"it could not be downloaded ({type(exc).__name__})")
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "image"
    record = FileRecord.of(name, content_type, data)
    return Fetched(data, record)


async def check_images(
    session: aiohttp.ClientSession,
    dialect: Dialect,
    draft: Draft,
    record: RecordedRequest,
) -> None:
    """Fetch URL images (recording them) and hold every image to the dialect's rules.

    Raises ``Invalid`` naming the image's field.
    """
    for ref in draft.images:
        if ref.upload is not None:
            data = ref.upload
        else:
            assert ref.url is not None  # noqa: S101 - an ImageRef has one or other
            fetched = await fetch_image(session, ref.url)
            if fetched.record is not None:
                record.fetched[ref.url] = fetched.record
            if fetched.error is not None:
                raise dialect.image_invalid(ref.field, fetched.error)
            data = fetched.data
        if len(data) > MAX_IMAGE_BYTES:
            raise dialect.image_invalid(ref.field, "it is larger than 10 MB")
        header = image_header(data)
        if header is None or header[0] not in IMAGE_FORMATS:
            raise dialect.image_invalid(ref.field, "it is not a JPEG, PNG or WebP")
        matching = dialect.image_rule is ImageRule.MATCH_SIZE
        if matching and header[1:] != (draft.width, draft.height):
            raise Invalid(ref.field, MATCH_SIZE_MESSAGE)


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes (``read(n)`` alone may stop at a chunk boundary)."""
    data = bytearray()
    while len(data) < limit:
        chunk = await stream.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)
