"""A forwarding HTTP proxy on loopback that records every request it carried.

It speaks what clients send a proxy: absolute-form requests for ``http://`` targets
(``GET http://host:port/path HTTP/1.1``, websocket upgrades included), forwarded in
origin form, and ``CONNECT host:port`` for ``https://`` ones (a blind tunnel). Each
client connection carries one request (``Connection: close`` is forced on all but
upgrades), so every request a client sent through it is in ``carried``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Self

import yarl

# Hop-by-hop headers meant for the proxy itself.
_PROXY_HEADERS = ("proxy-authorization", "proxy-connection")
# Every variable that could send the bot's requests through some proxy.
PROXY_NAMES = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "all_proxy",
)


def host_of(url: str) -> str:
    """``host:port`` of a URL, as ``RecordingProxy.hosts()`` names targets."""
    parsed = yarl.URL(url)
    return f"{parsed.host}:{parsed.port}"


@dataclass(frozen=True)
class Carried:
    """One request as the proxy received it."""

    method: str
    target: str  # an absolute URL, or ``host:port`` for CONNECT
    proxy_authorization: str | None

    @property
    def url(self) -> yarl.URL:
        return yarl.URL(self.target if "://" in self.target else f"//{self.target}")


@dataclass
class RecordingProxy:
    """The proxy; an async context manager serving on 127.0.0.1."""

    carried: list[Carried] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hosts(self) -> set[str]:
        """``host:port`` of every target it carried a request to."""
        return {host_of(str(c.url)) for c in self.carried}

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        await self._serve(reader, writer)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = [tuple(line.split(":", 1)) for line in lines if line]
        names = {name.strip().lower(): value.strip() for name, value in headers}
        self.carried.append(Carried(method, target, names.get("proxy-authorization")))
        url = yarl.URL(target if method != "CONNECT" else f"//{target}")
        try:
            up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upgrade = "upgrade" in names
            kept = [
                (name, value)
                for name, value in headers
                if name.strip().lower() not in _PROXY_HEADERS
                and (upgrade or name.strip().lower() != "connection")
            ]
            if not upgrade:
                kept.append(("Connection", " close"))
            forwarded = f"{method} {url.raw_path_qs} {version}\r\n"
            forwarded += "".join(f"{name}:{value}\r\n" for name, value in kept)
            up_writer.write(f"{forwarded}\r\n".encode("latin-1"))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side closes, then close the writing side."""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    writer.close()
