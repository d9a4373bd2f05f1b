"""Small helpers for driving the simulator with raw httpx requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web

from bot.simulator import Simulator


async def poll(
    client: httpx.AsyncClient,
    url: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    interval: float = 0.03,
    within: float = 5.0,
) -> list[dict[str, Any]]:
    """GET ``url`` until ``done(answer)``; return every answer seen."""
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if done(answers[-1]):
            return answers
        await asyncio.sleep(interval)
    raise AssertionError(f"{url} never finished; last answer {answers[-1:]}")


async def wait_for(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.02)


class Receiver:
    """Records POSTed callbacks, answering ``statuses`` in turn (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# One valid text-to-video create request per dialect, and where to query its task.
CREATE_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "v2": ("/v2/videos/generations", {"prompt": "p", "model": "sora-2"}),
    "sora": (
        "/sora/v1/videos",
        {"prompt": "p", "width": 1280, "height": 720, "n_frames": 300},
    ),
    "unified": ("/v1/videos/generations", {"prompt": "p", "model": "sora-2"}),
    "openai": ("/v1/videos", {"prompt": "p", "model": "sora-2"}),
    "video-create": (
        "/v1/video/create",
        {"images": [], "model": "sora-2", "orientation": "landscape", "prompt": "p"},
    ),
}
DIALECT_NAMES = tuple(CREATE_BODIES)


async def create_task(
    client: httpx.AsyncClient, dialect: str, prompt: str = "p", **headers: str
) -> httpx.Response:
    """POST a valid create request of ``dialect`` with ``prompt``."""
    _, body = CREATE_BODIES[dialect]
    return await post_create(client, dialect, {**body, "prompt": prompt}, **headers)


async def post_create(
    client: httpx.AsyncClient,
    dialect: str,
    body: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]] | None = None,
    **headers: str,
) -> httpx.Response:
    """POST ``body`` to ``dialect``'s create route: JSON, or for ``openai`` a
    multipart form of text parts plus ``files``."""
    path, _ = CREATE_BODIES[dialect]
    if dialect == "openai":
        parts: dict[str, Any] = {name: (None, value) for name, value in body.items()}
        return await client.post(
            path, files={**parts, **(files or {})}, headers=headers
        )
    return await client.post(path, json=body, headers=headers)


def assert_accepted(
    sim: Simulator, dialect: str, response: httpx.Response, body: dict[str, Any]
) -> None:
    """A created task, and ``body`` recorded exactly as sent."""
    assert response.status_code == 200, response.text
    assert sim.requests[-1].body == body
    assert sim.requests[-1].task_id == task_id_of(dialect, response.json())


def assert_refused(
    sim: Simulator, dialect: str, response: httpx.Response, field: str
) -> None:
    """A 400 in ``dialect``'s own error shape naming ``field``, and no task made."""
    assert response.status_code == 400, response.text
    answer = response.json()
    if dialect == "sora":
        # new-api's task envelope has no parameter slot: the message names it.
        assert answer["data"] is None
        assert answer["code"] != "success"
        message = answer["message"]
    else:
        error = answer["error"]
        assert error["param"] == field
        message = error["message"]
        kinds = {
            "v2": "new_api_error",
            "video-create": "new_api_error",
            "unified": "invalid_request_error",
            "openai": "invalid_request_error",
        }
        assert error["type"] == kinds[dialect]
    assert field in message
    assert sim.requests[-1].status == 400
    assert sim.requests[-1].task_id is None


def task_id_of(dialect: str, created: dict[str, Any]) -> str:
    if dialect == "v2":
        return str(created["task_id"])
    if dialect == "sora":
        return str(created["data"])
    return str(created["id"])


def query_path(dialect: str, task_id: str) -> str:
    paths = {
        "v2": f"/v2/videos/generations/{task_id}",
        "sora": f"/sora/v1/videos/{task_id}",
        "unified": f"/v1/tasks/{task_id}",
        "openai": f"/v1/videos/{task_id}",
    }
    if dialect in paths:
        return paths[dialect]
    return str(httpx.URL("/v1/video/query", params={"id": task_id}))


def state_of(dialect: str, answer: dict[str, Any]) -> str:
    """The dialect's status word, wherever the dialect keeps it."""
    return str(answer["data"]["status"] if dialect == "sora" else answer["status"])


FINISHED = {"SUCCESS", "FAILURE", "completed", "failed"}
