"""Dialect ``v2``: ``POST /v2/videos/generations`` -> ``{"task_id"}``.

Status: ``GET /v2/videos/generations/{task_id}``, unwrapped, with top-level
``status`` NOT_START|IN_PROGRESS|SUCCESS|FAILURE, ``progress`` like ``"45%"``,
``fail_reason`` and the video at ``data.output``. Errors are new-api's
``{"error": {"message", "type", "code"}}`` (plus ``param`` naming a bad field);
an unknown task is 404 ``task_not_exist``. ``notify_hook`` receives the status
answer when the task ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.simulator._tasks import Option, Phase, Snapshot, TaskSpec
from bot.simulator.dialects._base import (
    Context,
    Dialect,
    Draft,
    newapi_error,
    reason_text,
    url_images,
)
from bot.simulator.dialects._fields import Fields, check_model_rules

_ALLOWED = frozenset(
    {
        "prompt",
        "model",
        "aspect_ratio",
        "hd",
        "duration",
        "notify_hook",
        "watermark",
        "private",
        "images",
        # Seen in public clients of the same relays (character cameos).
        "character_url",
        "character_timestamps",
    }
)
_SIZES = {
    ("16:9", False): (1280, 720),
    ("9:16", False): (720, 1280),
    ("16:9", True): (1792, 1024),
    ("9:16", True): (1024, 1792),
}
_STATUS = {
    Phase.QUEUED: "NOT_START",
    Phase.RUNNING: "IN_PROGRESS",
    Phase.SUCCEEDED: "SUCCESS",
    Phase.FAILED: "FAILURE",
}


class V2(Dialect):
    name = "v2"
    create_path = "/v2/videos/generations"
    query_path = "/v2/videos/generations/{task_id}"

    def validate(self, body: Mapping[str, Any]) -> Draft:
        fields = Fields(body, _ALLOWED)
        prompt = fields.string("prompt", required=True)
        model = fields.required_choice("model", ("sora-2", "sora-2-pro"))
        aspect = fields.choice("aspect_ratio", ("16:9", "9:16")) or "16:9"
        hd = fields.boolean("hd")
        duration = fields.choice("duration", ("10", "15", "25")) or "10"
        callback = fields.callback("notify_hook")
        options = Option.NONE
        if hd:
            options |= Option.HD
        if fields.boolean("watermark"):
            options |= Option.WATERMARK
        if fields.boolean("private"):
            options |= Option.PRIVATE
        images = fields.url_list("images")
        fields.url("character_url")
        fields.string("character_timestamps")
        seconds = int(duration)
        check_model_rules(model, seconds, seconds_field="duration", hd=hd)
        # At 25 s HD has no effect, so the render is the standard size.
        width, height = _SIZES[(aspect, hd and seconds != 25)]
        if images:
            options |= Option.IMAGE
        return Draft(
            prompt=prompt,
            model=model,
            seconds=seconds,
            width=width,
            height=height,
            options=options,
            images=url_images("images", images),
            callback=callback,
        )

    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        return {"task_id": ctx.task_id}

    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        return {
            "task_id": ctx.task_id,
            "platform": "sora",
            "action": "sora-video",
            "status": _STATUS[snap.phase],
            "progress": f"{snap.progress}%",
            "fail_reason": reason_text(snap),
            "submit_time": int(spec.created),
            "start_time": int(snap.started_at or 0),
            "finish_time": int(snap.finished_at or 0),
            "data": (
                {"output": ctx.video_url} if snap.phase is Phase.SUCCEEDED else None
            ),
        }

    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        return newapi_error(status, message, code=code, field=field)
