"""Provider callbacks and OpenAI webhooks, posted over real HTTP to the bot's server."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.callbacks import add_callback_routes
from bot.errors import ConfigError
from bot.models import (
    ChatRef,
    GenerationRequest,
    Platform,
    Requester,
    Task,
    TaskState,
)
from bot.ports import Submission, TaskStore
from bot.providers import make_provider
from bot.simulator import Simulator
from bot.web import HttpServer, build_app
from bot.webhooks import sign_standard_webhook

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="


class Bot:
    """The bot's HTTP server with callback routes, and what its tracker was asked."""

    def __init__(self, store: TaskStore, server: HttpServer, pokes: list[str]):
        self.store = store
        self.url = server.url
        self.pokes = pokes
        self.http = httpx.AsyncClient(base_url=server.url)

    async def add_task(
        self,
        state: TaskState = TaskState.RUNNING,
        provider_task_id: str | None = None,
    ) -> Task:
        task = Task(
            id=f"t{secrets.token_hex(4)}",
            request=GenerationRequest(
                prompt="a cat surfing",
                requester=Requester(user_id="u1"),
                chat=ChatRef(platform=Platform.CLI),
            ),
            chat=ChatRef(platform=Platform.CLI),
            state=state,
            dialect="unified",
            provider_task_id=provider_task_id or f"task-unified-{secrets.token_hex(4)}",
            callback_token=secrets.token_urlsafe(24),
        )
        await self.store.add(task)
        return task

    async def callback(self, token: str, body: bytes = b"{}") -> httpx.Response:
        return await self.http.post(f"/callbacks/{token}", content=body)

    async def webhook(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post("/callbacks/openai", content=body, headers=headers)


async def _start(store: TaskStore, secret: str | None) -> AsyncIterator[Bot]:
    pokes: list[str] = []
    app = build_app()
    add_callback_routes(app, store=store, poke=pokes.append, webhook_secret=secret)
    async with HttpServer(app, "127.0.0.1", 0) as server:
        bot = Bot(store, server, pokes)
        async with bot.http:
            yield bot


@pytest.fixture
async def bot(store: TaskStore) -> AsyncIterator[Bot]:
    async for started in _start(store, SECRET):
        yield started


@pytest.fixture
async def bot_without_secret(store: TaskStore) -> AsyncIterator[Bot]:
    async for started in _start(store, None):
        yield started


def unified_body(task: Task, status: str = "completed", progress: int = 100) -> bytes:
    return json.dumps(
        {
            "id": task.provider_task_id,
            "object": "video.generation.task",
            "status": status,
            "progress": progress,
            "results": ["https://cdn.example/video.mp4"],
        }
    ).encode()


def openai_event(video_id: str, kind: str = "video.completed") -> bytes:
    return json.dumps(
        {
            "id": f"evt_{secrets.token_hex(6)}",
            "object": "event",
            "created_at": int(time.time()),
            "type": kind,
            "data": {"id": video_id},
        }
    ).encode()


def signed(body: bytes, msg_id: str | None = None, **options) -> dict[str, str]:
    return sign_standard_webhook(
        body, SECRET, msg_id=msg_id or f"msg_{secrets.token_hex(6)}", **options
    )


# ---------------------------------------------------------------------------------
# Per-task callback URLs


async def test_a_genuine_callback_makes_the_tracker_query_that_task(bot):
    task = await bot.add_task()

    response = await bot.callback(task.callback_token, unified_body(task))

    assert response.status_code == 200
    assert bot.pokes == [task.id]


async def test_a_callback_does_not_change_the_task_itself(bot):
    task = await bot.add_task(TaskState.RUNNING)

    await bot.callback(task.callback_token, unified_body(task, "completed"))

    assert await bot.store.get(task.id) == task


async def test_a_duplicate_callback_is_acknowledged_but_not_acted_on(bot):
    task = await bot.add_task()
    body = unified_body(task)

    first = await bot.callback(task.callback_token, body)
    again = await bot.callback(task.callback_token, body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert bot.pokes == [task.id]


async def test_concurrent_duplicates_poke_only_once(bot):
    task = await bot.add_task()
    body = unified_body(task)

    responses = await asyncio.gather(
        *(bot.callback(task.callback_token, body) for _ in range(10))
    )

    assert {r.status_code for r in responses} == {200}
    assert bot.pokes == [task.id]


async def test_a_callback_with_news_is_a_new_hint(bot):
    task = await bot.add_task()

    await bot.callback(task.callback_token, unified_body(task, "processing", 40))
    await bot.callback(task.callback_token, unified_body(task, "completed", 100))

    assert bot.pokes == [task.id, task.id]


@pytest.mark.parametrize(
    "state", [TaskState.SUCCEEDED, TaskState.DELIVERED, TaskState.CANCELLED]
)
async def test_a_late_callback_is_acknowledged_and_ignored(bot, state):
    task = await bot.add_task(state)

    response = await bot.callback(task.callback_token, unified_body(task))

    assert response.status_code == 200
    assert bot.pokes == []


@pytest.mark.parametrize(
    "token",
    [
        secrets.token_urlsafe(24),  # well-formed, never issued
        "short",
        "x" * 500,
        "..%2F..%2Fetc",
        "' OR '1'='1",
    ],
    ids=["unknown", "short", "long", "traversal", "sql"],
)
async def test_a_forged_token_is_not_found_and_touches_nothing(bot, token):
    task = await bot.add_task()
    before = await bot.store.recent(100)

    response = await bot.callback(token, unified_body(task))

    assert response.status_code == 404
    assert bot.pokes == []
    assert await bot.store.recent(100) == before


async def test_the_body_is_not_trusted_or_parsed(bot):
    task = await bot.add_task()

    response = await bot.callback(task.callback_token, b"\xff not json at all")

    assert response.status_code == 200
    assert bot.pokes == [task.id]


async def test_an_oversized_body_is_refused(bot):
    task = await bot.add_task()

    response = await bot.callback(task.callback_token, b"x" * (64 * 1024 + 1))

    assert response.status_code == 413
    assert bot.pokes == []


async def test_an_oversized_chunked_body_is_refused(bot):
    task = await bot.add_task()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    response = await bot.http.post(
        f"/callbacks/{task.callback_token}", content=chunks()
    )

    assert response.status_code == 413
    assert bot.pokes == []


async def test_only_post_is_accepted(bot):
    task = await bot.add_task()

    response = await bot.http.get(f"/callbacks/{task.callback_token}")

    assert response.status_code == 405
    assert bot.pokes == []


# ---------------------------------------------------------------------------------
# OpenAI project webhooks


async def test_a_signed_video_completed_event_pokes_the_task_with_that_video(bot):
    task = await bot.add_task(provider_task_id="video_abc123")
    await bot.add_task(provider_task_id="video_other")
    body = openai_event("video_abc123")

    response = await bot.webhook(body, signed(body))

    assert response.status_code == 200
    assert bot.pokes == [task.id]


async def test_a_signed_video_failed_event_pokes_too(bot):
    task = await bot.add_task(provider_task_id="video_failed1")
    body = openai_event("video_failed1", "video.failed")

    await bot.webhook(body, signed(body))

    assert bot.pokes == [task.id]


async def test_a_bad_signature_is_refused_and_logged_without_secrets(bot, caplog):
    task = await bot.add_task(provider_task_id="video_abc123")
    body = openai_event("video_abc123")
    headers = signed(body)
    headers["webhook-signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

    with caplog.at_level(logging.DEBUG, logger="bot.callbacks"):
        response = await bot.webhook(body, headers)

    assert response.status_code == 401
    assert bot.pokes == []
    assert await bot.store.get(task.id) == task
    logged = caplog.text
    assert "no webhook-signature matches" in logged
    assert SECRET[6:] not in logged
    assert "video_abc123" not in logged


async def test_a_body_changed_after_signing_is_refused(bot):
    await bot.add_task(provider_task_id="video_abc123")
    headers = signed(openai_event("video_abc123"))

    response = await bot.webhook(openai_event("video_abc123"), headers)

    assert response.status_code == 401
    assert bot.pokes == []


async def test_a_stale_timestamp_is_refused(bot):
    await bot.add_task(provider_task_id="video_abc123")
    body = openai_event("video_abc123")

    response = await bot.webhook(body, signed(body, timestamp=int(time.time()) - 600))

    assert response.status_code == 401
    assert bot.pokes == []


async def test_an_unsigned_event_is_refused(bot):
    await bot.add_task(provider_task_id="video_abc123")

    response = await bot.webhook(openai_event("video_abc123"))

    assert response.status_code == 401
    assert bot.pokes == []


async def test_a_redelivered_webhook_id_is_acknowledged_once_acted_on(bot):
    task = await bot.add_task(provider_task_id="video_abc123")
    body = openai_event("video_abc123")

    # OpenAI retries with the same webhook-id but a fresh timestamp and signature.
    first = await bot.webhook(body, signed(body, "msg_1", timestamp=int(time.time())))
    again = await bot.webhook(body, signed(body, "msg_1"))

    assert (first.status_code, again.status_code) == (200, 200)
    assert bot.pokes == [task.id]


@pytest.mark.parametrize(
    "body",
    [
        openai_event("video_nobody_knows"),
        openai_event("video_abc123", "batch.completed"),
        b'{"type": "video.completed", "data": null}',
        b"not json",
    ],
    ids=["unknown-video", "other-event", "no-data", "not-json"],
)
async def test_signed_events_about_nothing_of_ours_are_acknowledged(bot, body):
    await bot.add_task(provider_task_id="video_abc123")

    response = await bot.webhook(body, signed(body))

    assert response.status_code == 200
    assert bot.pokes == []


async def test_an_event_for_a_finished_task_is_ignored(bot):
    await bot.add_task(TaskState.DELIVERED, provider_task_id="video_abc123")
    body = openai_event("video_abc123")

    response = await bot.webhook(body, signed(body))

    assert response.status_code == 200
    assert bot.pokes == []


async def test_without_a_secret_webhooks_get_503_so_openai_retries(
    bot_without_secret, caplog
):
    await bot_without_secret.add_task(provider_task_id="video_abc123")
    body = openai_event("video_abc123")

    first = await bot_without_secret.webhook(body, signed(body))
    second = await bot_without_secret.webhook(body, signed(body))

    assert (first.status_code, second.status_code) == (503, 503)
    assert bot_without_secret.pokes == []
    warnings = [r for r in caplog.records if "SORA_WEBHOOK_SECRET" in r.getMessage()]
    assert len(warnings) == 1


async def test_without_a_secret_task_callbacks_still_work(bot_without_secret):
    task = await bot_without_secret.add_task()

    response = await bot_without_secret.callback(task.callback_token)

    assert response.status_code == 200
    assert bot_without_secret.pokes == [task.id]


async def test_a_malformed_whsec_secret_fails_at_startup(store):
    with pytest.raises(ConfigError, match="SORA_WEBHOOK_SECRET"):
        add_callback_routes(
            build_app(), store=store, poke=[].append, webhook_secret="whsec_*nope*"
        )


class StoreFailingOnce:
    """The real store, except the first webhook lookup fails (a locked database)."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store
        self.failed = False

    async def by_provider_task_id(self, provider_task_id: str) -> Task | None:
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return await self._store.by_provider_task_id(provider_task_id)


async def test_an_event_that_failed_midway_is_handled_when_redelivered(store):
    pokes: list[str] = []
    flaky = StoreFailingOnce(store)
    app = build_app()
    add_callback_routes(app, store=flaky, poke=pokes.append, webhook_secret=SECRET)
    async with HttpServer(app, "127.0.0.1", 0) as server:
        bot = Bot(store, server, pokes)
        task = await bot.add_task(provider_task_id="video_abc123")
        body = openai_event("video_abc123")
        async with bot.http:
            failed = await bot.webhook(body, signed(body, "msg_1"))
            retried = await bot.webhook(body, signed(body, "msg_1"))

    assert (failed.status_code, retried.status_code) == (500, 200)
    assert pokes == [task.id]


# ---------------------------------------------------------------------------------
# End to end: the simulator sends what the relays send, to the bot's real routes.


async def _until(condition) -> None:
    # The simulator's record list has no event to wait on, so poll it briefly.
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _ask(model: str = "sora-2") -> GenerationRequest:
    return GenerationRequest(
        prompt="a cat surfing",
        model=model,
        requester=Requester(user_id="u1"),
        chat=ChatRef(platform=Platform.CLI),
    )


@pytest.mark.parametrize("dialect", ["v2", "sora", "unified"])
async def test_a_relay_callback_reaches_the_tracker(bot, dialect):
    task = await bot.add_task(provider_task_id="not-yet")
    async with Simulator(duration=0.3) as sim, httpx.AsyncClient() as http:
        provider = make_provider(
            dialect, base_url=sim.base_url, api_key=None, client=http
        )
        callback_url = f"{bot.url}/callbacks/{task.callback_token}"
        ask = _ask(provider.profile.models[0].name)
        await provider.create(Submission(request=ask, callback_url=callback_url))

        await _until(lambda: sim.callbacks_sent)

    assert [r.status for r in sim.callbacks_sent] == [200]
    assert bot.pokes == [task.id]


async def test_openai_webhooks_signed_by_the_simulator_are_accepted(bot):
    webhook_url = f"{bot.url}/callbacks/openai"
    async with (
        Simulator(duration=0.3, webhook_secret=SECRET, webhook_url=webhook_url) as sim,
        httpx.AsyncClient() as http,
    ):
        provider = make_provider(
            "openai", base_url=sim.base_url, api_key=None, client=http
        )
        video_id = await provider.create(Submission(request=_ask()))
        task = await bot.add_task(provider_task_id=video_id)

        await _until(lambda: sim.callbacks_sent)

    assert [r.status for r in sim.callbacks_sent] == [200]
    assert bot.pokes == [task.id]


async def test_webhooks_signed_with_another_secret_are_refused_on_every_retry(bot):
    webhook_url = f"{bot.url}/callbacks/openai"
    async with (
        Simulator(
            duration=0.3, webhook_secret="whsec_b3RoZXI=", webhook_url=webhook_url
        ) as sim,
        httpx.AsyncClient() as http,
    ):
        provider = make_provider(
            "openai", base_url=sim.base_url, api_key=None, client=http
        )
        video_id = await provider.create(Submission(request=_ask()))
        await bot.add_task(provider_task_id=video_id)

        await _until(lambda: len(sim.callbacks_sent) == 4)

    assert {r.status for r in sim.callbacks_sent} == {401}
    assert bot.pokes == []
