"""Dialect ``openai``: OpenAI's Videos API as relays serve it.

``POST /v1/videos`` takes multipart/form-data only (model, prompt, size, seconds as a
string, watermark, and ``input_reference`` as a *file* part that must have exactly
the output size) and answers a ``video`` object. ``GET /v1/videos/{id}`` answers
status queued|in_progress|completed|failed with an int ``progress`` and
``error{code,message}``; the MP4 comes from ``GET /v1/videos/{id}/content``, as from
OpenAI itself (no URL in the object unless the ``video_url`` fault asks for the
relay variant). Errors are OpenAI's ``{"error": {message, type, param, code}}``.
Completion and failure are also announced by signed project webhooks when the
simulator has a webhook URL and secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.simulator._tasks import Flag, Option, Phase, Refusal, Snapshot, TaskSpec
from bot.simulator.dialects._base import (
    Context,
    Dialect,
    Draft,
    ImageRef,
    ImageRule,
    Upload,
    reason_text,
)
from bot.simulator.dialects._fields import Fields, Invalid, check_model_rules

_ALLOWED = frozenset(
    {"model", "prompt", "size", "seconds", "input_reference", "watermark"}
)
_SIZES = ("1280x720", "720x1280", "1792x1024", "1024x1792")
_PRO_SIZES = frozenset({"1792x1024", "1024x1792"})
# OpenAI takes 4/8/12; relays also take the Sora app's 10/15/25.
_SECONDS = ("4", "8", "10", "12", "15", "25")
_STATUS = {
    Phase.QUEUED: "queued",
    Phase.RUNNING: "in_progress",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}
# Download links of OpenAI videos expire; the object says when.
_EXPIRES_AFTER = 3600


class OpenAI(Dialect):
    name = "openai"
    create_path = "/v1/videos"
    query_path = "/v1/videos/{task_id}"
    multipart = True
    image_rule = ImageRule.MATCH_SIZE

    def task_id(self, spec: TaskSpec, code: str) -> str:
        return f"video_{code}"

    def code_of(self, task_id: str) -> str:
        return task_id.removeprefix("video_")

    def validate(self, body: Mapping[str, Any]) -> Draft:
        fields = Fields(body, _ALLOWED)
        for name, value in body.items():
            if name != "input_reference" and not isinstance(value, str):
                raise Invalid(name, f"{name}: must be a form field, not a file")
        model = fields.required_choice("model", ("sora-2", "sora-2-pro"))
        prompt = fields.string("prompt", required=True)
        size = fields.choice("size", _SIZES) or "720x1280"
        seconds = fields.choice("seconds", _SECONDS) or "4"
        watermark = fields.choice("watermark", ("true", "false")) == "true"
        check_model_rules(model, int(seconds), seconds_field="seconds")
        if size in _PRO_SIZES and model != "sora-2-pro":
            raise Invalid("size", f"size: {size} is only available with sora-2-pro")
        reference = body.get("input_reference")
        if reference is not None and not isinstance(reference, Upload):
            raise Invalid(
                "input_reference",
                "input_reference: must be an uploaded file part, not text",
            )
        width, height = (int(n) for n in size.split("x"))
        options = Option.WATERMARK if watermark else Option.NONE
        images: tuple[ImageRef, ...] = ()
        if reference is not None:
            options |= Option.IMAGE
            images = (ImageRef("input_reference", upload=reference.data),)
        return Draft(
            prompt=prompt,
            model=model,
            seconds=int(seconds),
            width=width,
            height=height,
            options=options,
            images=images,
        )

    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        return self._video(spec, ctx, "queued", 0)

    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        if snap.phase is Phase.FAILED:
            video = self._video(spec, ctx, "failed", 0)
            code = "generation_failed" if snap.refusal is Refusal.ERROR else None
            video["error"] = {
                "code": code or "moderation_blocked",
                "message": reason_text(snap),
            }
            return video
        video = self._video(spec, ctx, _STATUS[snap.phase], snap.progress)
        if snap.phase is Phase.SUCCEEDED and snap.finished_at is not None:
            video["completed_at"] = int(snap.finished_at)
            video["expires_at"] = int(snap.finished_at) + _EXPIRES_AFTER
            if spec.flags & Flag.VIDEO_URL:
                video["video_url"] = ctx.video_url
        return video

    @staticmethod
    def _video(
        spec: TaskSpec, ctx: Context, status: str, progress: int
    ) -> dict[str, Any]:
        return {
            "id": ctx.task_id,
            "object": "video",
            "model": spec.model,
            "status": status,
            "progress": progress,
            "created_at": int(spec.created),
            "seconds": str(spec.seconds),
            "size": f"{spec.width}x{spec.height}",
        }

    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        if status == 429:
            kind = "requests"
        elif status >= 500:
            kind = "server_error"
        else:
            kind = "invalid_request_error"
        return {
            "error": {"message": message, "type": kind, "param": field, "code": code}
        }

    def not_found(self, task_id: str) -> dict[str, Any]:
        return self.error(
            404, f"Video with id '{task_id}' not found.", code="video_not_found"
        )
