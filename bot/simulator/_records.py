"""What the simulator saw and sent, kept for tests to assert on."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file the simulator received (multipart part) or fetched (image URL).

    ``width``/``height`` are the decoded pixel size when the bytes are an image.
    """

    filename: str
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None

    @classmethod
    def of(cls, filename: str, content_type: str, data: bytes) -> FileRecord:
        header = image_header(data)
        width, height = (header[1], header[2]) if header else (None, None)
        return cls(
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            width=width,
            height=height,
        )


@dataclass(slots=True)
class RecordedRequest:
    """One create request as received.

    ``body`` is the parsed JSON for JSON dialects, or for multipart ``{name: str |
    FileRecord}``; ``headers`` have lower-case names and never ``authorization``.
    ``status`` is the HTTP status the simulator answered, ``task_id`` the created
    task's id, ``fetched`` the images it downloaded, by URL.
    """

    dialect: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    multipart: bool = False
    status: int = 0
    task_id: str | None = None
    fetched: dict[str, FileRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """One delivery attempt of a task callback or an openai project webhook.

    ``status`` is the receiver's HTTP status, or None when it could not be reached.
    """

    kind: str  # "callback" (notify_hook / callback_url) or "webhook"
    dialect: str
    task_id: str
    url: str
    attempt: int
    status: int | None
    body: dict[str, Any]
    headers: dict[str, str]


def image_header(data: bytes) -> tuple[str, int, int] | None:
    """An image's format (Pillow's name, e.g. ``JPEG``), width and height from its
    header, or None if the bytes are no image Pillow knows."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return str(image.format), int(width), int(height)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
