"""HTTP plumbing every dialect shares: auth, JSON decoding and video downloads.

Errors map through ``bot.providers._errors``; retrying is the caller's business (the
tracker has one policy for all dialects). Video links come from the provider, so
every hop of a download is checked by ``bot.addresses.LinkGuard`` first and the
download stops at ``FetchRules.max_video_mb``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.addresses import PINNED_ADDRESSES, LinkGuard, Resolver, resolve_system
from bot.errors import (
    ProviderError,
    ProviderNoAnswer,
    ProviderProtocolError,
    ProviderUnreachable,
    ProviderURLRefused,
    ProviderVideoTooLarge,
)
from bot.metrics import Metrics, RequestKind
from bot.models import VideoResult
from bot.providers._errors import error_for
from bot.providers._normalise import lookup_url

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

JSONBody = Mapping[str, object]
# A multipart form as httpx takes it: (name, (filename or None, content, type?)).
FormParts = list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]]

# MP4/MOV/3GP carry "ftyp" at offset 4; WebM/Matroska start with the EBML magic.
_VIDEO_MAGIC = ((4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"))
MEGABYTE = 1024 * 1024
# Redirects followed per download, each hop checked again.
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchRules:
    """How video links are fetched: the size cap (``MAX_VIDEO_MB``; a 25-second
    Sora video is tens of MB, and a relay streaming without end must not fill the
    disk) and the resolver the link checks use (injectable: tests need no DNS)."""

    max_video_mb: int = 1024
    resolve: Resolver = resolve_system


DEFAULT_FETCH = FetchRules()


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
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        fetch: FetchRules = DEFAULT_FETCH,
        *,
        name: str = "default",
        dialect: str = "",
        metrics: Metrics | None = None,
        create_timeout: float | None = None,
    ) -> None:
        self._client = client
        self.meter = (metrics or Metrics()).provider(name, dialect)
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._fetch = fetch
        self._guard = LinkGuard(self._base, fetch.resolve)
        self._origin = httpx.URL(self._base).copy_with(path="/", query=None)
        # Built once: status queries run a thousand times a second at scale.
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._query_headers = httpx.Headers(client.headers)
        self._query_headers.update(self._auth)
        self._query_extensions = {"timeout": client.timeout.as_dict()}
        # A create (every POST) waits this long for its answer in total, so a hung
        # relay is given up in time to tell the member (SORA_CREATE_TIMEOUT).
        self._create_timeout = (
            None
            if create_timeout is None
            else httpx.Timeout(
                create_timeout,
                connect=min(create_timeout, client.timeout.connect or create_timeout),
            )
        )

    def url(self, path: str) -> str:
        # Operators often paste OpenAI-style bases ending in /v1; don't double it.
        if self._base.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        return self._base + path

    def _headers(self, url: str) -> dict[str, str]:
        """The key for the provider's own origin only (video URLs may be a CDN's)."""
        same_origin = httpx.URL(url).copy_with(path="/", query=None) == self._origin
        return self._auth if same_origin else {}

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
        kind: RequestKind = "query" if method == "GET" else "create"
        started = time.perf_counter()
        try:
            if json_body is None and form is None and params is None:
                # A status query: with the client's headers and timeouts merged
                # once above, not per call, it costs about 10 % less CPU.
                request = httpx.Request(
                    method,
                    url,
                    headers=self._query_headers,
                    extensions=self._query_extensions,
                )
                response = await self._client.send(request)
            else:
                response = await self._client.request(
                    method,
                    url,
                    json=json_body,
                    files=form,
                    params=params,
                    headers=self._auth,  # ``url`` is under the base URL
                    timeout=(
                        self._create_timeout
                        if method == "POST" and self._create_timeout is not None
                        else httpx.USE_CLIENT_DEFAULT
                    ),
                )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = _transport_error(exc, "Could not reach the video service")
            raise self.meter.failed(kind, error, reached=False) from None
        self.meter.answered(kind, started)
        try:
            body: object = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_error:
            error = error_for(
                response.status_code,
                body,
                response.headers,
                fields=fields,
                secret=self._key,
                task_route=task_route,
            )
            raise self.meter.failed(kind, error)
        if body is None:
            error = ProviderProtocolError(
                f"The video service answered {method} {path} with something "
                "that is not JSON."
            )
            raise self.meter.failed(kind, error)
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
        started = time.perf_counter()
        try:
            try:
                response = await self._get_checked(url)
            except ProviderURLRefused as exc:
                raise self.meter.failed("download", exc) from None
            try:
                if response.is_error:
                    await response.aread()
                    error = error_for(
                        response.status_code,
                        _json_or_none(response),
                        response.headers,
                        secret=self._key,
                    )
                    raise self.meter.failed("download", error)
                kind = response.headers.get("content-type", "").split(";")[0].strip()
                if json_redirect and kind.lower() == "application/json":
                    await response.aread()
                    target = lookup_url(_json_or_none(response))
                    if target is None:
                        error = ProviderProtocolError(
                            "The video service's download answer has no video link."
                        )
                        raise self.meter.failed("download", error)
                    return await self.download(target, dest)
                try:
                    size = await _write(response, part, self._fetch.max_video_mb)
                except ProviderError as exc:
                    raise self.meter.failed("download", exc) from None
            finally:
                await response.aclose()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            part.unlink(missing_ok=True)
            error = _transport_error(exc, "The video download failed")
            raise self.meter.failed("download", error, reached=False) from None
        except (ProviderURLRefused, ProviderVideoTooLarge) as exc:
            part.unlink(missing_ok=True)
            # The operator's half of the story; the member reads user_message.
            log.warning("video not downloaded: %s", exc)
            raise
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(dest)
        # The whole transfer: for a download that is what keeps a member waiting.
        self.meter.answered("download", started)
        return VideoResult(
            path=str(dest),
            size_bytes=size,
            content_type=kind if kind.startswith("video/") else "video/mp4",
            # The content route needs our key, so it is no link to show anyone.
            source_url=None if json_redirect else url,
        )

    async def _get_checked(self, url: str) -> httpx.Response:
        """GET ``url`` streaming, following redirects by hand so that every hop is
        checked and connected to the address that was checked."""
        for _ in range(MAX_REDIRECTS + 1):
            host, addresses = await self._guard.check(url)
            request = self._client.build_request(
                "GET",
                url,
                headers=self._headers(url),
                extensions={PINNED_ADDRESSES: (host, addresses)},
            )
            response = await self._client.send(
                request, stream=True, follow_redirects=False
            )
            if not response.has_redirect_location:
                return response
            await response.aclose()
            url = str(response.url.join(response.headers["location"]))
        raise ProviderURLRefused(
            f"the video link redirected more than {MAX_REDIRECTS} times"
        )


def _transport_error(exc: Exception, what: str) -> ProviderError:
    """Dropped connections and timeouts are worth retrying; a URL we cannot even
    send to (bad scheme, malformed) or a garbled body is not.

    Whether the request left matters for a create: a connection that was never
    made (refused, DNS, TLS, connect timeout) proves the provider took nothing,
    while a timeout or a drop after sending leaves it unknown.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        error: ProviderError = ProviderProtocolError(
            f"{what}: its URL is not usable ({name}). Check SORA_API_URL."
        )
        error.not_sent = True
        return error
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ProviderUnreachable(f"{what} ({name}).")
    if isinstance(exc, httpx.TransportError):
        timed_out = isinstance(exc, httpx.TimeoutException)
        return ProviderNoAnswer(f"{what} ({name}).", timed_out=timed_out)
    return ProviderProtocolError(f"{what}: the answer was garbled ({name}).")


def _json_or_none(response: httpx.Response) -> object:
    try:
        body: object = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body


async def _write(response: httpx.Response, part: Path, max_mb: int) -> int:
    """Write the body to ``part``; refuse anything that does not start like a video
    or grows past ``max_mb`` megabytes."""
    limit = max_mb * MEGABYTE
    size = 0
    head = b""
    # Plain writes: a chunk of at most 64 KB lands in the page cache in
    # microseconds, less than handing it to a worker thread and back would cost.
    with part.open("wb") as out:
        async for chunk in response.aiter_bytes():
            if len(head) < 12:
                head += chunk[: 12 - len(head)]
                if len(head) >= 8 and not _is_video(head):
                    raise ProviderProtocolError(
                        "The video service's download is not a video file."
                    )
            size += len(chunk)
            if size > limit:
                raise ProviderVideoTooLarge(max_mb)
            out.write(chunk)
    if size == 0 or not _is_video(head):
        raise ProviderProtocolError("The video service's download is not a video file.")
    return size
