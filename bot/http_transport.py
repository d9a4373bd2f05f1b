"""An httpx transport that sends requests through aiohttp's connection pool.

The provider clients speak ``httpx.AsyncClient``, but httpcore's pool rescans every
connection for every queued request (``_assign_requests_to_connections`` probes each
socket), so its CPU per request grows with the pool: measured at about 1 ms per
status query with 64 connections, against about 0.15 ms for aiohttp on the same
machine. Tracking 10,000 tasks at a 10 s interval is 1,000 queries a second, so the
bot's shared client keeps httpx's API and hands the wire to aiohttp (already a
dependency, through the bot's own HTTP server and both chat SDKs).

Each request goes through the proxy the environment names for its origin
(``bot.proxies``), decided once per origin rather than per request.

aiohttp errors are mapped onto httpx's, so callers see the same exception tree.

A request whose extensions carry ``PINNED_ADDRESSES`` (a provider-supplied video
link, checked by ``bot.addresses.LinkGuard``) goes through a second session whose
resolver answers only with those checked addresses, and whose connections are
never reused: a DNS answer that changes between the check and the connect (DNS
rebinding) cannot send the request anywhere else.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.addresses import PINNED_ADDRESSES
from bot.proxies import Proxies, proxy_middleware

# Most specific first: the first match wins.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.TimeoutException),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientError, httpx.NetworkError),
)
CHUNK_SIZE = 64 * 1024

# The (host, addresses) the request being connected was checked for. aiohttp
# resolves inside the task that sends the request, so a context variable reaches
# the resolver without a lock or a per-request connector.
_PINNED: ContextVar[tuple[str, Sequence[str]] | None] = ContextVar(
    "sorabot_pinned", default=None
)


class _PinnedResolver(AbstractResolver):
    """Answers only with the addresses checked for this request's host."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        pinned = _PINNED.get()
        if pinned is None or pinned[0] != host.lower():
            raise OSError(f"{host} was not checked before connecting")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in pinned[1]
        ]

    async def close(self) -> None:
        """Nothing to release."""


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__) from exc
        raise  # pragma: no cover - every ClientError matches the last entry


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_chunked(CHUNK_SIZE):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one ``aiohttp.ClientSession`` (made on first use).

    Args:
        limits: the pool size and keep-alive, as for httpx's own transport.
        proxies: which origins go through a proxy; by default, as this process's
            ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` say.
    """

    def __init__(self, limits: httpx.Limits, proxies: Proxies | None = None) -> None:
        self._limits = limits
        self._proxies = proxies if proxies is not None else Proxies()
        self._session: aiohttp.ClientSession | None = None
        self._pinned_session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Created inside the running loop (aiohttp binds to it), on first use.
        self._session = _session(
            aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 15.0,
            ),
            middlewares=(proxy_middleware(self._proxies),),
        )
        return self._session

    def _open_pinned(self) -> aiohttp.ClientSession:
        # One video download per task: a fresh connection each costs nothing
        # that matters, and a pooled one could outlive the check it was made for.
        self._pinned_session = _session(
            aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                resolver=_PinnedResolver(),
                use_dns_cache=False,
                force_close=True,
            )
        )
        return self._pinned_session

    def _timeout(self, timeouts: dict[str, float | None]) -> aiohttp.ClientTimeout:
        # Every request of a client carries the same timeouts: build them once.
        key = (timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[1], sock_read=key[2]
            )
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pinned = request.extensions.get(PINNED_ADDRESSES)
        if pinned is None or self._proxies.proxy_url(str(request.url)) is not None:
            # Through a proxy the proxy connects, so there is no address to pin:
            # the link was still checked before it was asked for.
            return await self._send(self._session or self._open(), request)
        token = _PINNED.set(pinned)
        try:
            return await self._send(
                self._pinned_session or self._open_pinned(), request
            )
        finally:
            _PINNED.reset(token)

    async def _send(
        self, session: aiohttp.ClientSession, request: httpx.Request
    ) -> httpx.Response:
        timeout = self._timeout(request.extensions.get("timeout", {}))
        # Bodies here are small JSON or a multipart form around one image of at
        # most 10 MB: reading them whole lets aiohttp send a Content-Length rather
        # than chunks, which some relays refuse for uploads.
        body = await request.aread()
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in ("transfer-encoding", "content-length")
        ]
        with _as_httpx_errors():
            response = await session.request(
                request.method,
                # httpx has already percent-encoded it; yarl need not again.
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,  # httpx follows redirects when asked
                timeout=timeout,
            )
            length = response.content_length
            # Status answers: read at once, one await instead of an iterator
            # chain per request, and the connection goes back to the pool now.
            small = length is not None and length <= CHUNK_SIZE
            content = await response.read() if small else None
        extensions = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": (response.reason or "").encode(),
        }
        if content is not None:
            return httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                content=content,
                request=request,
                extensions=extensions,
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        sessions = (self._session, self._pinned_session)
        self._session = self._pinned_session = None
        for session in sessions:
            if session is not None:
                await session.close()


def _session(
    connector: aiohttp.TCPConnector,
    middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = (),
) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,  # httpx decodes Content-Encoding itself
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
        cookie_jar=aiohttp.DummyCookieJar(),  # httpx's client owns cookies
        middlewares=middlewares,
    )


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing: see ``CookielessClient``."""


class CookielessClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that neither keeps nor sends cookies.

    Video APIs authenticate by header, yet httpx wraps every response in urllib
    request and response objects to look for ``Set-Cookie``: about 10 % of the
    bot's CPU when tracking 10,000 tasks (1,000 status queries a second).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("this client keeps no cookies")
