"""HTTP plumbing shared by every dialect: bodies in, canned answers out."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

import aiohttp
from aiohttp import web

from bot.simulator._faults import FaultQueue, Target
from bot.simulator._records import FileRecord, RecordedRequest
from bot.simulator.dialects._base import Dialect, Upload
from bot.simulator.dialects._fields import Invalid

# What a client cannot do without; ``missing_fields`` answers lose these.
_REQUIRED_KEYS = ("id", "task_id", "status", "data")


# How often a hung request checks whether its client is still there.
_HANG_CHECK = 0.05


async def _until_the_client_gives_up(request: web.Request) -> None:
    """Wait until the client closes the connection (or the simulator stops, which
    cancels this).

    aiohttp does not cancel a handler whose client left, so a hang that waited
    only for the stop would hold that up for the whole shutdown timeout.
    """
    transport = request.transport
    # aiohttp offers nothing to await for a lost connection.
    while transport is not None and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(_HANG_CHECK)


async def read_body(
    dialect: Dialect, request: web.Request, record: RecordedRequest
) -> dict[str, Any]:
    """Parse and record a create body: a JSON object, or multipart form parts."""
    if dialect.multipart:
        return await read_multipart(request, record)
    raw = await request.read()
    text = raw.decode("utf-8", "replace")
    record.body = text
    if request.content_type != "application/json":
        raise Invalid(None, "Content-Type must be application/json")
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise Invalid(None, f"The body is not valid JSON: {exc}") from None
    record.body = body
    if not isinstance(body, dict):
        raise Invalid(None, "The body must be a JSON object")
    return body


async def read_multipart(
    request: web.Request, record: RecordedRequest
) -> dict[str, Any]:
    if request.content_type != "multipart/form-data":
        raise Invalid(None, "Content-Type must be multipart/form-data")
    parts: dict[str, Any] = {}
    shown: dict[str, str | FileRecord] = {}
    record.body = shown
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                raise Invalid(None, "Every form part needs a name")
            if part.name in parts:
                raise Invalid(part.name, f"Duplicate parameter: '{part.name}'.")
            if part.filename is not None:
                data = bytes(await part.read())
                content_type = part.headers.get("Content-Type", "")
                upload = Upload(FileRecord.of(part.filename, content_type, data), data)
                parts[part.name], shown[part.name] = upload, upload.record
            else:
                parts[part.name] = shown[part.name] = await part.text()
    except (ValueError, AssertionError, aiohttp.ClientError) as exc:
        raise Invalid(None, f"The multipart body is malformed: {exc}") from None
    return parts


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def malform(body: dict[str, Any], mode: str | None) -> dict[str, Any]:
    """``missing_fields``: the answer loses the keys every client needs."""
    if mode != "missing_fields":
        return body
    return {k: v for k, v in body.items() if k not in _REQUIRED_KEYS}


def rate_limited(dialect: Dialect, seconds: float) -> web.Response:
    shown = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    message = f"Rate limit exceeded; retry after {shown} seconds."
    response = json_response(
        dialect.error(429, message, code="rate_limit_exceeded"), 429
    )
    response.headers["Retry-After"] = shown
    return response


def server_error(dialect: Dialect, status: int) -> web.Response:
    message = "The server had an error while processing your request."
    return json_response(dialect.error(status, message, code="internal_error"), status)


def unauthorized(dialect: Dialect) -> web.Response:
    message = "Invalid API key: check the key the bot is configured with."
    return json_response(dialect.error(401, message, code="invalid_api_key"), 401)


def not_json() -> web.Response:
    """The ``not_json`` answer: a 200 from a confused gateway."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    return web.Response(text=page, content_type="text/html")


class Gate:
    """Applies queued request faults and the API key check before real answers."""

    def __init__(self, faults: FaultQueue, api_key: str | None) -> None:
        self._faults = faults
        self._expected = f"Bearer {api_key}".encode() if api_key else None

    async def check(
        self,
        dialect: Dialect,
        request: web.Request,
        target: Target,
        task_id: str | None = None,
        *,
        auth: bool = True,
    ) -> tuple[web.Response | None, str | None]:
        """Apply the next queued fault aimed at ``target``, then the key check.

        Returns a response to send instead of the real answer, or None and the
        ``malformed`` mode the real answer must be spoilt with.
        """
        fault = self._faults.take_request(target)
        malformed: str | None = None
        if fault is not None:
            params = fault.params
            if fault.kind == "slow":
                await asyncio.sleep(float(params["seconds"]))
            elif fault.kind == "hang":
                await _until_the_client_gives_up(request)
                # What aiohttp's handler_cancellation would do: no answer, none
                # recorded, the handler quietly gone.
                raise asyncio.CancelledError
            elif fault.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                # Written to a closed connection: the client never sees it.
                return web.Response(status=204), None
            elif fault.kind == "malformed":
                malformed = str(params["mode"])
            elif fault.kind == "rate_limit":
                return rate_limited(dialect, params["seconds"]), None
            elif fault.kind == "server_error":
                return server_error(dialect, int(params["status"])), None
            elif fault.kind == "auth":
                return unauthorized(dialect), None
            elif fault.kind == "not_found":
                status = dialect.not_found_status
                return json_response(dialect.not_found(task_id or ""), status), None
        if auth and not self._authorized(request):
            return unauthorized(dialect), None
        if malformed == "not_json":
            return not_json(), None
        return None, malformed

    def _authorized(self, request: web.Request) -> bool:
        if self._expected is None:
            return True
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, self._expected)
