"""What every dialect module provides: its routes, checks, answers and errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from aiohttp import web

from bot.simulator._records import FileRecord
from bot.simulator._tasks import REASONS, Option, Snapshot, TaskSpec
from bot.simulator.dialects._fields import Invalid


class ImageRule(Enum):
    """What a dialect demands of a reference image, beyond being one."""

    FETCH = "fetch"  # a downloadable image
    MATCH_SIZE = "match_size"  # ... exactly the output width x height
    LIMITS = "limits"  # ... at most 10 MB, jpg/png/webp (unified)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A reference image in a request: a URL to fetch or uploaded bytes."""

    field: str
    url: str | None = None
    upload: bytes | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart create request."""

    record: FileRecord
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """A create request that passed its dialect's checks, in neutral terms."""

    prompt: str
    model: str
    seconds: int
    width: int
    height: int
    options: Option = Option.NONE
    images: tuple[ImageRef, ...] = ()
    callback: tuple[str, str] | None = None  # (field, url)


@dataclass(frozen=True, slots=True)
class Extras:
    """Request details too long for the task id; known only to the creating process."""

    prompt: str
    callback_url: str | None
    image_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Context:
    """What a status answer needs besides the spec and the snapshot."""

    task_id: str
    code: str
    video_url: str
    extras: Extras | None


class Dialect(ABC):
    """One relay API: its routes, its checks, its answers and its error shape."""

    name: ClassVar[str]
    create_path: ClassVar[str]
    query_path: ClassVar[str]
    multipart: ClassVar[bool] = False
    image_rule: ClassVar[ImageRule] = ImageRule.FETCH
    not_found_status: ClassVar[int] = 404

    def query_id(self, request: web.Request) -> str | None:
        return request.match_info.get("task_id")

    def task_id(self, spec: TaskSpec, code: str) -> str:
        return code

    def code_of(self, task_id: str) -> str:
        return task_id

    def decode(self, task_id: str) -> tuple[TaskSpec, str] | None:
        """The spec behind one of this dialect's ids, or None."""
        code = self.code_of(task_id)
        spec = TaskSpec.decode(code)
        if spec is None or spec.dialect != self.name:
            return None
        if self.task_id(spec, code) != task_id:
            return None
        return spec, code

    @abstractmethod
    def validate(self, body: Mapping[str, Any]) -> Draft:
        """Check a create body; raise ``Invalid`` naming the field.

        Multipart bodies map part names to text, or ``Upload`` for file parts.
        """

    @abstractmethod
    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        """The create call's answer."""

    @abstractmethod
    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        """The status query's answer (also the callback body where there is one)."""

    @abstractmethod
    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        """The dialect's error body for an HTTP error ``status``."""

    def check_callback(  # noqa: B027 - a hook; most documents set no callback rules
        self, field: str, url: str, *, allow_loopback: bool
    ) -> None:
        """Refuse a callback URL the document forbids (it is already absolute http(s)).

        Nothing more by default: only the unified document restricts its callbacks.
        """

    def not_found(self, task_id: str) -> dict[str, Any]:
        return self.error(
            self.not_found_status, f"task {task_id} not found", code="task_not_exist"
        )

    def image_invalid(self, field: str, message: str) -> Invalid:
        return Invalid(field, f"{field}: {message}")


def url_images(field: str, urls: Sequence[str]) -> tuple[ImageRef, ...]:
    """Reference images sent as a URL array, each named by its index for errors."""
    return tuple(ImageRef(f"{field}[{i}]", url=url) for i, url in enumerate(urls))


def reason_text(snap: Snapshot) -> str:
    """The plain-words failure reason, or "" while nothing failed."""
    return REASONS[snap.refusal] if snap.refusal else ""


def newapi_error(
    status: int, message: str, *, code: str, field: str | None = None
) -> dict[str, Any]:
    """new-api's relay error body, which the v2 and video-create relays answer."""
    error: dict[str, Any] = {"message": message, "type": "new_api_error", "code": code}
    if field is not None:
        error["param"] = field
    return {"error": error}
