"""HTTP plumbing every dialect shares: auth, error mapping, JSON decoding, downloads.

One mapping from HTTP answers to the ``ProviderError`` tree, so every dialect fails
the same way: 400/422 name the refused field, 401/403 blame the operator's key,
402 and quota codes mean no credit, 404 or ``task_not_exist`` an unknown task, 429
carries Retry-After, and 5xx, timeouts and dropped connections are retryable.
Retrying is the caller's business (the tracker has one policy for all dialects).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnavailable,
)
from bot.models import VideoResult
from bot.providers._normalise import dig, lookup_url, plain_reason, text

M = TypeVar("M", bound=BaseModel)

JSONBody = Mapping[str, object]
# A multipart form as httpx takes it: (name, (filename or None, content, type?)).
FormParts = list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]]

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "insufficient_quota_error",
        "insufficient_user_quota",
        "insufficient_balance",
        "quota_exceeded",
    }
)
_UNKNOWN_TASK_CODES = frozenset(
    {"task_not_exist", "task_not_found", "not_found_error", "resource_not_found"}
)
_SECRET_RE = re.compile(r"(Bearer\s+\S+|\bsk-[A-Za-z0-9_\-]{6,})", re.IGNORECASE)
_RETRY_HINT_RE = re.compile(r"retry after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
# MP4/MOV/3GP carry "ftyp" at offset 4; WebM/Matroska start with the EBML magic.
_VIDEO_MAGIC = ((4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"))


def parse_retry_after(headers: Mapping[str, str], body: object = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an
    HTTP date) or a "retry after N seconds" hint in the error body."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _number(raw_ms)
        if seconds is not None:
            return seconds / 1000
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = _number(raw)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    hint = text(dig(body, "error", "fallback_suggestion"))
    match = _RETRY_HINT_RE.search(hint) if hint else None
    return float(match.group(1)) if match else None


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None


def _details(body: object) -> tuple[str | None, list[str], str | None]:
    """(message, codes, param) from the error shapes the references list."""
    error = dig(body, "error")
    message = (
        text(dig(error, "message"))
        or text(error)
        or text(dig(body, "message"))
        or text(dig(body, "detail"))
        or text(dig(body, "fail_reason"))
    )
    # new-api repeats its code as the message ("task_not_exist"), so a one-word
    # message counts as a code too.
    candidates = (
        text(dig(error, "code")),
        text(dig(error, "type")),
        text(dig(body, "code")),
        message if message and " " not in message else None,
    )
    codes = list(dict.fromkeys(c.lower() for c in candidates if c))
    return message, codes, text(dig(error, "param")) or text(dig(body, "param"))


def _redact(message: str | None, secret: str | None) -> str | None:
    message = plain_reason(message)
    if message is None:
        return None
    if secret:
        message = message.replace(secret, "***")
    return _SECRET_RE.sub("***", message)


def _field_named(message: str | None, fields: Collection[str]) -> str | None:
    if not message:
        return None
    for name in sorted(fields, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message):
            return name
    return None


def error_for(
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    fields: Collection[str] = (),
    secret: str | None = None,
    task_route: bool = True,
) -> ProviderError:
    """The ``ProviderError`` for an HTTP error answer (or an in-band error envelope).

    ``fields`` are the names we sent, so a 400 that mentions one can say which;
    ``task_route`` is False for routes where 404 means a wrong base URL, not an
    unknown task.
    """
    raw_message, codes, param = _details(body)
    said = _redact(raw_message, secret)
    detail = f": {said}" if said else ""
    code = codes[0] if codes else None
    known = set(codes)
    if status in (401, 403):
        return ProviderAuthError(
            f"The video service refused the API key (HTTP {status}){detail}. "
            "Check SORA_API_KEY.",
            status_code=status,
            code=code,
        )
    if status == 402 or known & _QUOTA_CODES:
        return ProviderQuotaError(
            f"The video service account is out of credit (HTTP {status}){detail}.",
            status_code=status,
            code=code,
        )
    if known & _UNKNOWN_TASK_CODES or (status == 404 and task_route):
        return ProviderTaskUnknown(
            f"The video service does not know this task (HTTP {status}){detail}.",
            status_code=status,
            code=code,
        )
    if status == 404:
        return ProviderProtocolError(
            f"The video service has no such route (HTTP 404){detail}. "
            "Check SORA_API_URL and SORA_API_DIALECT.",
            status_code=status,
            code=code,
        )
    if status == 429:
        return ProviderRateLimited(
            f"The video service is rate limiting us{detail}.",
            retry_after=parse_retry_after(headers or {}, body),
            code=code,
        )
    if status == 408 or status >= 500:
        return ProviderUnavailable(
            f"The video service is unavailable (HTTP {status}){detail}.",
            status_code=status,
            code=code,
        )
    field = param if param in fields or not fields else None
    return ProviderRejected(
        said or f"HTTP {status}",
        status_code=status,
        code=code,
        field=field or _field_named(raw_message, fields),
    )


def decode(model: type[M], payload: object, what: str) -> M:
    """Validate ``payload`` as ``model``; a mismatch is a clear protocol error."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        names = sorted(
            {".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()}
        )
        raise ProviderProtocolError(
            f"The video service's {what} is missing or has invalid "
            f"{', '.join(names[:5])}."
        ) from None


def _is_video(head: bytes) -> bool:
    return any(head[at : at + len(magic)] == magic for at, magic in _VIDEO_MAGIC)


class ProviderHTTP:
    """One dialect's view of the shared ``httpx.AsyncClient``: base URL and key.

    The key is only ever sent to the provider's own origin: video URLs on a CDN
    get no ``Authorization`` header.
    """

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str | None
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._origin = httpx.URL(self._base).copy_with(path="/", query=None)

    def url(self, path: str) -> str:
        # Operators often paste OpenAI-style bases ending in /v1; don't double it.
        if self._base.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        return self._base + path

    def _headers(self, url: str) -> dict[str, str]:
        same_origin = httpx.URL(url).copy_with(path="/", query=None) == self._origin
        if self._key and same_origin:
            return {"Authorization": f"Bearer {self._key}"}
        return {}

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        json_body: JSONBody | None = None,
        form: FormParts | None = None,
        params: Mapping[str, str] | None = None,
        task_route: bool = True,
    ) -> object:
        """Send one request and return its decoded JSON, or raise ``ProviderError``."""
        url = self.url(path)
        fields = list(json_body or ()) + [name for name, _ in form or ()]
        try:
            response = await self._client.request(
                method,
                url,
                json=json_body,
                files=form,
                params=params,
                headers=self._headers(url),
            )
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"Could not reach the video service ({type(exc).__name__})."
            ) from None
        try:
            body: object = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_error:
            raise error_for(
                response.status_code,
                body,
                response.headers,
                fields=fields,
                secret=self._key,
                task_route=task_route,
            )
        if body is None:
            raise ProviderProtocolError(
                f"The video service answered {method} {path} with something "
                "that is not JSON."
            )
        return body

    async def download(
        self, url: str, dest: Path, *, json_redirect: bool = False
    ) -> VideoResult:
        """Stream the video at ``url`` into ``dest`` and check it is one.

        With ``json_redirect`` a JSON answer naming the real URL is followed once
        (some relays answer the content route that way).
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            async with self._client.stream(
                "GET", url, headers=self._headers(url), follow_redirects=True
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise error_for(
                        response.status_code,
                        _json_or_none(response),
                        response.headers,
                        secret=self._key,
                    )
                kind = response.headers.get("content-type", "").split(";")[0].strip()
                if json_redirect and kind.lower() == "application/json":
                    await response.aread()
                    target = lookup_url(_json_or_none(response))
                    if target is None:
                        raise ProviderProtocolError(
                            "The video service's download answer has no video link."
                        )
                    return await self.download(target, dest)
                size = await _write(response, part)
        except httpx.TransportError as exc:
            part.unlink(missing_ok=True)
            raise ProviderUnavailable(
                f"The video download broke off ({type(exc).__name__})."
            ) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(dest)
        return VideoResult(
            path=str(dest),
            size_bytes=size,
            content_type=kind if kind.startswith("video/") else "video/mp4",
            # The content route needs our key, so it is no link to show anyone.
            source_url=None if json_redirect else url,
        )


def _json_or_none(response: httpx.Response) -> object:
    try:
        body: object = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body


async def _write(response: httpx.Response, part: Path) -> int:
    """Write the body to ``part``; refuse anything that does not start like a video."""
    size = 0
    head = b""
    async with await anyio.open_file(part, "wb") as out:
        async for chunk in response.aiter_bytes():
            if len(head) < 12:
                head += chunk[: 12 - len(head)]
                if len(head) >= 8 and not _is_video(head):
                    raise ProviderProtocolError(
                        "The video service's download is not a video file."
                    )
            await out.write(chunk)
            size += len(chunk)
    if size == 0 or not _is_video(head):
        raise ProviderProtocolError("The video service's download is not a video file.")
    return size
