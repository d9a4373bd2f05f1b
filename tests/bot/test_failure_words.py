"""Failures through the whole tracker: the stage, the provider's words, safe links.

Real runtime, real SQLite file; the provider is the simulator or a tiny relay on
127.0.0.1 that answers what a document's relay would.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from bot.models import FailureKind
from bot.simulator._tasks import REASONS, Refusal
from tests.fakes.tasks import make_request, settled


class V2Relay:
    """A ``v2`` relay that answers the create and status queries it is given."""

    def __init__(
        self, create: web.Response, status: dict[str, object] | None = None
    ) -> None:
        self.creates = 0
        self.queries = 0
        self._create = create
        self._status = status
        self.app = web.Application()
        self.app.router.add_post("/v2/videos/generations", self._on_create)
        self.app.router.add_get("/v2/videos/generations/{id}", self._on_query)

    async def _on_create(self, request: web.Request) -> web.Response:
        self.creates += 1
        return self._create

    async def _on_query(self, request: web.Request) -> web.Response:
        self.queries += 1
        return web.json_response(self._status)


async def test_moderation_after_90_percent_keeps_the_stage_and_the_providers_words(
    make_runtime,
) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request("a cat #moderation"))
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert stored.failure.kind is FailureKind.MODERATION_OUTPUT
    assert stored.failure.provider_reason == REASONS[Refusal.OUTPUT]
    [outcome] = runtime.chat.outcomes(task.id)
    assert outcome.failure == stored.failure


async def test_a_create_refused_for_moderation_names_the_prompt_stage(
    make_runtime, serve
) -> None:
    said = "提示词包含敏感内容 (prompt flagged by moderation)"
    relay = V2Relay(
        web.json_response({"code": "error", "message": said, "data": None}, status=400)
    )
    runtime = await make_runtime(
        SORA_API_URL=await serve(relay.app), SORA_API_DIALECT="v2"
    )

    task = await runtime.service.submit(make_request("a famous singer"))
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert stored.failure.kind is FailureKind.MODERATION_PROMPT
    assert stored.failure.provider_reason == said
    assert relay.creates == 1


async def test_a_video_link_to_the_unspecified_address_fails_once_and_is_logged(
    make_runtime, serve, caplog: pytest.LogCaptureFixture
) -> None:
    # 0.0.0.0 reaches this machine on Linux, and even a broken guard sends
    # nothing past loopback; metadata and private addresses are refused the same
    # way (tests/providers/test_links.py).
    relay = V2Relay(
        web.json_response({"task_id": "t1"}),
        {
            "task_id": "t1",
            "status": "SUCCESS",
            "progress": "100%",
            "data": {"output": "http://0.0.0.0:9/latest/meta-data/v.mp4?k=s3"},
        },
    )
    runtime = await make_runtime(
        SORA_API_URL=await serve(relay.app), SORA_API_DIALECT="v2"
    )

    with caplog.at_level(logging.WARNING, logger="bot"):
        task = await runtime.service.submit(make_request())
        stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "does not download from" in stored.failure.message
    assert relay.queries == 1  # refused for good, not retried
    assert "reserved address (0.0.0.0)" in caplog.text
    assert "k=s3" not in caplog.text
    assert not (runtime.settings.media_dir / "videos" / f"{task.id}.mp4").exists()


async def test_max_video_mb_stops_a_bigger_download(make_runtime, simulator) -> None:
    runtime = await make_runtime(MAX_VIDEO_MB=1)
    simulator.inject("large", bytes=2 * 1024 * 1024)

    task = await runtime.service.submit(make_request())
    stored = await settled(runtime, task.id)

    assert stored.failure is not None
    assert "larger than the 1 MB" in stored.failure.message
    videos = runtime.settings.media_dir / "videos"
    assert list(videos.iterdir()) == []
    assert [e.kind for e in runtime.chat.outcomes(task.id)] == ["error"]
