"""The fake's HTTP plumbing: Discord-shaped JSON answers, body parsing, and the
middleware that records every call, checks the bot token, applies rate limits
and turns errors into ``{"message", "code"}`` bodies (never a 5xx, which
discord.py would retry)."""

from __future__ import annotations

import json
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, hdrs, web

from tests.fakes.discord_limits import DiscordError
from tests.fakes.discord_records import Call, FakeFile

if TYPE_CHECKING:
    from tests.fakes.discord_state import DiscordState

log = logging.getLogger(__name__)

API = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
FILES: web.RequestKey[list[FakeFile]] = web.RequestKey("files", list)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim and
    # treats "application/json; charset=utf-8" as plain text.
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def no_content(headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=204, headers=headers)


async def read_body(request: web.Request) -> tuple[Any, list[FakeFile]]:
    """JSON body, or multipart ``payload_json`` plus ``files[n]`` in index order."""
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[FakeFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: Discord's API never sends one
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            elif part.name and part.name.startswith("files["):
                filename = part.filename or "file"
                data = bytes(await part.read())
                sent = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                if sent == "application/octet-stream":
                    # discord.py always says octet-stream; Discord sniffs the name.
                    sent = mimetypes.guess_type(filename)[0] or sent
                files.append(FakeFile(filename, sent, data))
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []


def _major(route: str, info: dict[str, str]) -> str:
    for key in ("channel_id", "guild_id", "token", "app_id"):
        if "{" + key + "}" in route:
            return info[key]
    return ""


def build_middleware(fake: DiscordState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        full = request.path
        if full == "/gateway":
            return await handler(request)
        path = full.removeprefix(API)
        resource = request.match_info.route.resource
        template = None if resource is None else resource.canonical.removeprefix(API)
        call = Call(
            time.monotonic(),
            request.method,
            path,
            template,
            dict(request.query),
            None,
            [],
        )
        fake.calls.append(call)
        try:
            call.json, call.files = await read_body(request)
            request[BODY], request[FILES] = call.json, call.files
            headers = _gate(fake, request, call, template)
            response = await handler(request)
            response.headers.update(headers)
        except DiscordError as error:
            if error.status == 429:
                fake.rate_limited[template or path] += 1
            response = json_response(error.body, error.status, error.headers)
        except web.HTTPException as error:
            body = {"message": f"{error.status}: {error.reason}", "code": 0}
            response = json_response(body, error.status)
        except Exception as error:
            # A fake bug must not look like a Discord 5xx (discord.py retries those).
            log.exception("fake Discord failed on %s %s", request.method, path)
            fake.errors.append(f"{request.method} {path}: {error!r}")
            response = json_response({"message": repr(error), "code": 0}, 400)
        call.status = response.status
        fake.notify()
        return response

    return middleware


def _gate(
    fake: DiscordState, request: web.Request, call: Call, template: str | None
) -> dict[str, str]:
    """Auth and rate limits; returns the rate-limit headers for the answer."""
    if template is None or template.startswith("/cdn/"):
        return {}
    info = dict(request.match_info)
    major = _major(template, info)
    if template.startswith("/interactions/"):
        return fake.limiter.check(
            call.method, call.path, template, major, is_global=False, bucketed=False
        )
    if template.startswith("/webhooks/"):
        return fake.limiter.check(
            call.method, call.path, template, major, is_global=False
        )
    if request.headers.get(hdrs.AUTHORIZATION) != f"Bot {fake.token}":
        raise DiscordError(401, 0, "401: Unauthorized")
    return fake.limiter.check(call.method, call.path, template, major, is_global=True)
