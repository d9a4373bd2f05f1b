"""Dialect ``video-create``: the "unified video" ``POST /v1/video/create``.

The JSON body carries images (a URL list, ``[]`` for text-to-video), model,
orientation portrait|landscape, prompt, size small|large, an integer duration
10|15|25, watermark, private, style and storyboard; it answers ``{"id":
"sora-2:task_...", "status": "pending", "status_update_time": <ms>}``.
``GET /v1/video/query?id=...`` answers status pending|queued|processing|completed|
failed (``cancelled`` never happens here), ``progress`` as the string ``"0"`` while
waiting and an int once processing, ``video_url``/``url`` when done and
``detail.failure_reason`` when failed. Errors use new-api's ``{"error": {...}}``.
``large`` and 25 s are sora-2-pro only, like hd elsewhere (and, like hd, ``large``
is accepted at 25 s but has no effect there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.simulator._tasks import Option, Phase, Snapshot, TaskSpec
from bot.simulator.dialects._base import (
    Context,
    Dialect,
    Draft,
    newapi_error,
    reason_text,
    url_images,
)
from bot.simulator.dialects._fields import PRO_MODEL, Fields, Invalid, check_model_rules

_ALLOWED = frozenset(
    {
        "images",
        "model",
        "orientation",
        "prompt",
        "size",
        "duration",
        "watermark",
        "private",
        "style",
        "storyboard",
    }
)
STYLES = ("thanksgiving", "comic", "news", "selfie", "nostalgic", "anime")
_SIZES = {
    ("landscape", "small"): (1280, 720),
    ("portrait", "small"): (720, 1280),
    ("landscape", "large"): (1792, 1024),
    ("portrait", "large"): (1024, 1792),
}
# Within the queued tenth of a task: "pending" first, then "queued".
_PENDING_UNTIL = 0.05


class VideoCreate(Dialect):
    name = "video-create"
    create_path = "/v1/video/create"
    query_path = "/v1/video/query"

    def query_id(self, request: web.Request) -> str | None:
        return request.query.get("id")

    def task_id(self, spec: TaskSpec, code: str) -> str:
        return f"{spec.model}:task_{code}"

    def code_of(self, task_id: str) -> str:
        return task_id.rpartition(":task_")[2]

    def validate(self, body: Mapping[str, Any]) -> Draft:
        fields = Fields(body, _ALLOWED)
        urls = fields.url_list("images", required=True)
        model = fields.required_choice("model", ("sora-2", PRO_MODEL))
        orientation = fields.required_choice("orientation", ("portrait", "landscape"))
        prompt = fields.string("prompt", required=True)
        size = fields.choice("size", ("small", "large")) or "small"
        seconds = fields.choice("duration", (10, 15, 25)) or 10
        options = Option.NONE
        # The document: watermark defaults to true.
        if fields.boolean("watermark", default=True):
            options |= Option.WATERMARK
        if fields.boolean("private"):
            options |= Option.PRIVATE
        if fields.boolean("storyboard"):
            options |= Option.STORYBOARD
        fields.choice("style", STYLES)
        check_model_rules(model, seconds, seconds_field="duration")
        if size == "large" and model != PRO_MODEL:
            raise Invalid("size", f"size: large is only available with {PRO_MODEL}")
        if urls:
            options |= Option.IMAGE
        # At 25 s, as with hd elsewhere, large has no effect: a standard render.
        width, height = _SIZES[(orientation, "small" if seconds == 25 else size)]
        return Draft(
            prompt=prompt,
            model=model,
            seconds=seconds,
            width=width,
            height=height,
            options=options,
            images=url_images("images", urls),
        )

    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        return {
            "id": ctx.task_id,
            "status": "pending",
            "status_update_time": round(spec.created * 1000),
        }

    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        changed = snap.finished_at or snap.started_at or spec.created
        answer: dict[str, Any] = {
            "id": ctx.task_id,
            "object": "video",
            "model": spec.model,
            "status": "",
            "progress": "0",
            "created_at": int(spec.created),
            "size": _size_name(spec),
            "status_update_time": round(changed * 1000),
        }
        if snap.phase is Phase.QUEUED:
            pending = snap.fraction < _PENDING_UNTIL
            answer["status"] = "pending" if pending else "queued"
            answer["detail"] = {"input": _input(spec, ctx)}
        elif snap.phase is Phase.RUNNING:
            answer["status"] = "processing"
            answer["progress"] = snap.progress
            answer["detail"] = {
                "input": _input(spec, ctx),
                "status": "processing",
                "pending_info": {
                    "type": "video_gen",
                    "status": "processing",
                    "progress_pct": snap.share,
                    "generations": [],
                },
            }
        elif snap.phase is Phase.SUCCEEDED:
            answer["status"] = "completed"
            answer["progress"] = 100
            answer["url"] = answer["video_url"] = ctx.video_url
            answer["seconds"] = str(spec.seconds)
        else:
            answer["status"] = "failed"
            answer["video_url"] = None
            answer["detail"] = {"status": "failed", "failure_reason": reason_text(snap)}
        return answer

    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        return newapi_error(status, message, code=code, field=field)


def _input(spec: TaskSpec, ctx: Context) -> dict[str, Any]:
    """The echoed request; prompt and images only while this process remembers."""
    echoed: dict[str, Any] = {
        "model": spec.model,
        "aspect_ratio": "16:9" if spec.width > spec.height else "9:16",
        "orientation": "landscape" if spec.width > spec.height else "portrait",
        "size": _size_name(spec),
    }
    if ctx.extras is not None:
        echoed["prompt"] = ctx.extras.prompt
        echoed["images"] = list(ctx.extras.image_urls)
    return echoed


def _size_name(spec: TaskSpec) -> str:
    return "large" if max(spec.width, spec.height) >= 1792 else "small"
