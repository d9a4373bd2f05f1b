"""The bot's own HTTP server: health, readiness, metrics, callbacks, Slack, media.

Everything that must be reachable from outside shares one aiohttp application, so an
operator opens one port (``HTTP_HOST``/``HTTP_PORT``) and puts one reverse proxy in
front. Routes are added before ``HttpServer.start``: aiohttp freezes the router once
the application is served.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.log import access_logger
from aiohttp.typedefs import Handler

from bot.metrics import Metrics
from bot.readiness import Readiness

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"

# Graceful shutdown waits this long for in-flight requests; the whole process must be
# down within 5 s of SIGTERM, and the tracker needs its share of that.
SHUTDOWN_TIMEOUT = 2.0


async def _healthz(request: web.Request) -> web.Response:
    # Answers without touching the database or the provider: a container orchestrator
    # calls this every few seconds and must not add load or wait on a slow relay.
    return web.json_response({"status": "ok"})


def _readyz(readiness: Readiness) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        problems = await readiness.problems()
        if problems:
            return web.json_response(
                {"status": "not ready", "problems": problems}, status=503
            )
        return web.json_response({"status": "ready"})

    return handle


def _metrics(metrics: Metrics) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        body, content_type = metrics.render()
        # As a header: ``content_type=`` would drop the format's version parameter.
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handle


def build_app(
    *, readiness: Readiness | None = None, metrics: Metrics | None = None
) -> web.Application:
    """A fresh application with ``GET /healthz`` (and ``/readyz``, ``/metrics`` when
    given what they report); other parts add their routes to it."""
    app = web.Application()
    app.router.add_get(HEALTH_PATH, _healthz)
    if readiness is not None:
        app.router.add_get(READY_PATH, _readyz(readiness))
    if metrics is not None:
        app.router.add_get(METRICS_PATH, _metrics(metrics))
    return app


class HttpServer:
    """Serves ``app`` on ``host:port`` (port 0 picks a free port; see ``port``).

    Args:
        app: the application, with every route already added.
        host: the interface to listen on (``127.0.0.1`` unless exposed on purpose).
        port: the TCP port, or 0 for any free one.
        backlog: connections the kernel queues before ``accept``.
        access_log: whether to log every request (aiohttp's access logger).
        shutdown_timeout: seconds ``stop`` waits for in-flight requests.
        name: what the start-up log line calls the server (operators and tests
            read ``HTTP server listening on <url>`` to find the bot's own port).
    """

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        backlog: int = 128,
        access_log: bool = True,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
        name: str = "HTTP server",
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._backlog = backlog
        self._access_log = access_log
        self._shutdown_timeout = shutdown_timeout
        self._name = name
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port actually bound; only known once started."""
        if self._port is None:
            raise RuntimeError("the HTTP server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The server's own base URL (no trailing slash), as seen from this host."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            shutdown_timeout=self._shutdown_timeout,
            access_log=access_logger if self._access_log else None,
        )
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self._requested_port, backlog=self._backlog
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("%s listening on %s", self._name, self.url)

    async def stop(self) -> None:
        """Stop listening and close open connections; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
