"""The simulator: one aiohttp server on loopback speaking all five dialects."""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp
import yarl
from aiohttp import web

from bot.simulator._callbacks import Notifier, default_retry_delays
from bot.simulator._faults import FaultQueue, marker_flags
from bot.simulator._http import (
    Gate,
    json_response,
    malform,
    rate_limited,
    read_body,
    server_error,
)
from bot.simulator._media import MAX_IMAGE_BYTES, check_images, send_video
from bot.simulator._records import (
    CallbackRecord,
    RecordedRequest,
)
from bot.simulator._tasks import Flag, Phase, TaskSpec, snapshot
from bot.simulator.dialects import DIALECTS
from bot.simulator.dialects._base import Context, Dialect, Draft, Extras
from bot.simulator.dialects._fields import Invalid
from bot.web import HttpServer

_BACKLOG = 1024
# Multipart uploads carry a reference image of up to 10 MB, plus form overhead.
_MAX_BODY = 2 * MAX_IMAGE_BYTES
_MAX_EXTRAS = 100_000


class Simulator:
    """A faithful, strict fake of the five Sora relay dialects, on loopback.

    Tasks go queued -> running (rising progress) -> completed within ``duration``
    seconds. Their state is derived from the task id and the clock, so a new
    instance answers for ids an earlier one (or another process) created. Faults are
    queued with ``inject``; see ``bot.simulator._faults`` for the list.
    ``refuse_connections`` takes it off the network (connections are refused, as
    for a relay that went down) until ``accept_connections``.

    Args:
        duration: seconds a task takes from creation to its result.
        host, port: where to listen (port 0 picks a free port; see ``base_url``).
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get
            401 in the dialect's error shape; when None any bearer (or none) passes.
        webhook_secret, webhook_url: openai dialect project webhooks
            (``video.completed`` / ``video.failed``), Standard Webhooks signed;
            sent only when both are set.
        allow_loopback_callbacks: when False, callback URLs must be https and not
            internal addresses, as the unified document demands.
        callback_retry_delays: waits before each callback retry; by default the
            documented 1, 2 and 4 s, scaled down for durations under 30 s.
    """

    def __init__(
        self,
        duration: float = 4.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        allow_loopback_callbacks: bool = True,
        callback_retry_delays: Sequence[float] | None = None,
    ) -> None:
        if duration <= 0:
            raise ValueError("duration must be positive")
        self.duration = duration
        self.host = host
        self.port = port
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.allow_loopback_callbacks = allow_loopback_callbacks
        self.callback_retry_delays = tuple(
            default_retry_delays(duration)
            if callback_retry_delays is None
            else callback_retry_delays
        )
        self.requests: list[RecordedRequest] = []
        self.queries: Counter[str] = Counter()
        self.downloads: Counter[str] = Counter()
        self.callbacks_sent: list[CallbackRecord] = []
        self._faults = FaultQueue()
        self._gate = Gate(self._faults, api_key)
        self._dialects: dict[str, Dialect] = {d.name: d for d in DIALECTS}
        self._extras: dict[str, Extras] = {}
        self._server: HttpServer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._notifier: Notifier | None = None
        self._base_url: str | None = None
        self._listening_port = port

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server, without a trailing slash."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not started")
        return self._base_url

    async def start(self) -> None:
        await self._listen(self.port)
        self._base_url = str(
            yarl.URL.build(scheme="http", host=self.host, port=self.bound_port)
        )
        self._session = aiohttp.ClientSession()
        self._notifier = Notifier(
            self._session, self.callbacks_sent, self.callback_retry_delays
        )

    @property
    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not listening")
        return self._server.port

    async def refuse_connections(self) -> None:
        """Stop listening, as a relay that went down: connecting is refused.

        Tasks, records and queued faults are kept; ``accept_connections`` comes
        back on the same port.
        """
        if self._server is not None:
            self._listening_port = self._server.port
            await self._server.stop()
            self._server = None

    async def accept_connections(self) -> None:
        """Listen again on the port used before ``refuse_connections``."""
        if self._server is None:
            await self._listen(self._listening_port)

    async def _listen(self, port: int) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        for dialect in self._dialects.values():
            app.router.add_post(
                dialect.create_path, functools.partial(self._create, dialect)
            )
            app.router.add_get(
                dialect.query_path, functools.partial(self._query, dialect)
            )
        app.router.add_get("/v1/videos/{task_id}/content", self._content)
        app.router.add_get("/files/{code}.mp4", self._file)
        server = HttpServer(
            app,
            self.host,
            port,
            backlog=_BACKLOG,
            access_log=False,
            shutdown_timeout=1.0,
            name="Simulator",
        )
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._notifier is not None:
            await self._notifier.close()
        if self._server is not None:
            await self._server.stop()
        if self._session is not None:
            await self._session.close()
        self._notifier = self._server = self._session = None

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

    def inject(self, fault: str, times: int = 1, **params: Any) -> None:
        """Queue ``fault`` for the next ``times`` matching requests or tasks.

        Request faults take ``on=`` ``"create"``, ``"query"``, ``"download"`` or
        ``"any"`` (the default; ``not_found`` defaults to ``"query"``, ``hang``
        and ``drop`` to ``"create"``).
        """
        self._faults.inject(fault, times, dict(params))

    # ------------------------------------------------------------------ handlers

    async def _create(self, dialect: Dialect, request: web.Request) -> web.Response:
        headers = {
            name.lower(): value
            for name, value in request.headers.items()
            if name.lower() != "authorization"
        }
        record = RecordedRequest(
            dialect.name, request.method, request.path, headers, None, dialect.multipart
        )
        self.requests.append(record)
        response = await self._create_task(dialect, request, record)
        record.status = response.status
        return response

    async def _create_task(
        self, dialect: Dialect, request: web.Request, record: RecordedRequest
    ) -> web.Response:
        problem: Invalid | None = None
        body: dict[str, Any] = {}
        try:
            body = await read_body(dialect, request, record)
        except Invalid as exc:
            problem = exc
        refused, malformed = await self._gate.check(dialect, request, "create")
        if refused is not None:
            return refused
        try:
            if problem is not None:
                raise problem
            draft = dialect.validate(body)
            if draft.callback is not None:
                field, url = draft.callback
                dialect.check_callback(
                    field, url, allow_loopback=self.allow_loopback_callbacks
                )
            assert self._session is not None  # noqa: S101 - set by start()
            await check_images(self._session, dialect, draft, record)
        except Invalid as exc:
            body = dialect.error(
                exc.status, exc.message, code=exc.code, field=exc.field
            )
            return json_response(body, exc.status)
        spec, ctx = self._new_task(dialect, draft)
        record.task_id = ctx.task_id
        return json_response(malform(dialect.created(spec, ctx), malformed))

    async def _query(self, dialect: Dialect, request: web.Request) -> web.Response:
        task_id = dialect.query_id(request)
        if task_id:
            self.queries[task_id] += 1
        refused, malformed = await self._gate.check(dialect, request, "query", task_id)
        if refused is not None:
            return refused
        if not task_id:
            message = "Missing required parameter: 'id'."
            body = dialect.error(400, message, code="invalid_request", field="id")
            return json_response(body, 400)
        found = dialect.decode(task_id)
        if found is None:
            return json_response(dialect.not_found(task_id), dialect.not_found_status)
        spec, code = found
        if self.queries[task_id] == 1:
            if spec.flags & Flag.FIRST_QUERY_RATE_LIMIT:
                return rate_limited(dialect, 1)
            if spec.flags & Flag.FIRST_QUERY_SERVER_ERROR:
                return server_error(dialect, 500)
        snap = snapshot(spec, time.time())
        body = dialect.status(spec, snap, self._context(dialect, spec, code))
        return json_response(malform(body, malformed))

    async def _content(self, request: web.Request) -> web.StreamResponse:
        """openai: ``GET /v1/videos/{id}/content`` streams the finished MP4."""
        dialect = self._dialects["openai"]
        task_id = request.match_info["task_id"]
        self.downloads[task_id] += 1
        refused, _ = await self._gate.check(dialect, request, "download", task_id)
        if refused is not None:
            return refused
        found = dialect.decode(task_id)
        if found is None:
            return json_response(dialect.not_found(task_id), 404)
        variant = request.query.get("variant", "video")
        if variant != "video":
            message = f"variant: only 'video' is available, not {variant!r}"
            return json_response(dialect.error(400, message, code="invalid_value"), 400)
        spec, _ = found
        snap = snapshot(spec, time.time())
        if snap.phase is not Phase.SUCCEEDED:
            message = f"Video {task_id} is not ready (status {snap.phase.value})."
            return json_response(
                dialect.error(404, message, code="video_not_ready"), 404
            )
        return await send_video(request, spec.large_bytes)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """The result URL of the URL-giving dialects: a plain CDN-like download."""
        code = request.match_info["code"]
        spec = TaskSpec.decode(code)
        if spec is None:
            raise web.HTTPNotFound(text="no such file")
        dialect = self._dialects[spec.dialect]
        self.downloads[dialect.task_id(spec, code)] += 1
        refused, _ = await self._gate.check(dialect, request, "download", auth=False)
        if refused is not None:
            return refused
        if snapshot(spec, time.time()).phase is not Phase.SUCCEEDED:
            raise web.HTTPNotFound(text="the video is not ready")
        return await send_video(request, spec.large_bytes)

    # ------------------------------------------------------------------ helpers

    def _new_task(self, dialect: Dialect, draft: Draft) -> tuple[TaskSpec, Context]:
        flags, large = self._faults.take_task()
        flags |= marker_flags(draft.prompt)
        if flags & Flag.LARGE == 0:
            large = 0
        draft_spec = TaskSpec(
            dialect=dialect.name,
            created=time.time(),
            duration=self.duration,
            model=draft.model,
            seconds=draft.seconds,
            width=draft.width,
            height=draft.height,
            options=draft.options,
            flags=flags,
            large_bytes=large,
        )
        code = draft_spec.encode()
        # Round-trip, so this process answers exactly as a restarted one would.
        spec = TaskSpec.decode(code)
        assert spec is not None  # noqa: S101 - we just encoded it
        task_id = dialect.task_id(spec, code)
        callback_url = draft.callback[1] if draft.callback else None
        urls = tuple(ref.url for ref in draft.images if ref.url is not None)
        self._extras[task_id] = Extras(draft.prompt, callback_url, urls)
        if len(self._extras) > _MAX_EXTRAS:
            # Bounded for a long-running built-in simulator; oldest forgotten first.
            del self._extras[next(iter(self._extras))]
        ctx = self._context(dialect, spec, code)
        self._schedule_notifications(dialect, spec, ctx, callback_url)
        return spec, ctx

    def _context(self, dialect: Dialect, spec: TaskSpec, code: str) -> Context:
        task_id = dialect.task_id(spec, code)
        return Context(
            task_id=task_id,
            code=code,
            video_url=f"{self.base_url}/files/{code}.mp4",
            extras=self._extras.get(task_id),
        )

    def _schedule_notifications(
        self, dialect: Dialect, spec: TaskSpec, ctx: Context, callback_url: str | None
    ) -> None:
        assert self._notifier is not None  # noqa: S101 - set by start()
        if callback_url is not None:
            self._notifier.task_callback(dialect, spec, ctx, callback_url)
        if dialect.name == "openai" and self.webhook_url and self.webhook_secret:
            self._notifier.project_webhook(
                spec, ctx, self.webhook_url, self.webhook_secret
            )
