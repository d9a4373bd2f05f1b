"""Dialect ``unified``: the EvoLink-style task API.

``POST /v1/videos/generations`` (model, prompt of at most 1000 characters,
aspect_ratio, at most one ``image_urls`` entry that must download as a JPEG, PNG or
WebP of at most 10 MB, remove_watermark, integer duration 10|15, callback_url)
answers a ``video.generation.task`` object; ``GET /v1/tasks/{id}`` answers the same
object with status pending|processing|completed|failed, an int ``progress``,
``results[]`` once completed and ``error{code,message}`` once failed. The callback
receives the query answer when the task ends. HTTP errors are ``{"error": {"code":
<status>, "message", "type", "param"}}``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any

import yarl

from bot.simulator._tasks import Option, Phase, Refusal, Snapshot, TaskSpec
from bot.simulator.dialects._base import (
    Context,
    Dialect,
    Draft,
    ImageRule,
    reason_text,
    url_images,
)
from bot.simulator.dialects._fields import Fields, Invalid

_ALLOWED = frozenset(
    {
        "model",
        "prompt",
        "aspect_ratio",
        "image_urls",
        "remove_watermark",
        "duration",
        "callback_url",
    }
)
MAX_PROMPT = 1000
MAX_CALLBACK_URL = 2048
_SIZES = {"16:9": (1280, 720), "9:16": (720, 1280)}
_STATUS = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large_error",
    429: "rate_limit_error",
    500: "internal_server_error",
    502: "upstream_error",
    503: "service_unavailable_error",
}


class Unified(Dialect):
    name = "unified"
    create_path = "/v1/videos/generations"
    query_path = "/v1/tasks/{task_id}"
    image_rule = ImageRule.LIMITS

    def task_id(self, spec: TaskSpec, code: str) -> str:
        return f"task-unified-{int(spec.created)}-{code}"

    def code_of(self, task_id: str) -> str:
        return task_id.rsplit("-", 1)[-1]

    def validate(self, body: Mapping[str, Any]) -> Draft:
        fields = Fields(body, _ALLOWED)
        model = fields.required_choice("model", ("sora-2", "sora-2-pro"))
        prompt = fields.string("prompt", required=True, max_len=MAX_PROMPT)
        aspect = fields.choice("aspect_ratio", ("16:9", "9:16")) or "16:9"
        urls = fields.url_list("image_urls", max_items=1)
        # The document: watermark removal is the default (and costs more).
        remove_watermark = fields.boolean("remove_watermark", default=True)
        seconds = fields.choice("duration", (10, 15)) or 10
        callback = fields.callback("callback_url")
        options = Option.NONE if remove_watermark else Option.WATERMARK
        if urls:
            options |= Option.IMAGE
        width, height = _SIZES[aspect]
        return Draft(
            prompt=prompt,
            model=model,
            seconds=seconds,
            width=width,
            height=height,
            options=options,
            images=url_images("image_urls", urls),
            callback=callback,
        )

    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        return {
            "created": int(spec.created),
            "id": ctx.task_id,
            "model": spec.model,
            "object": "video.generation.task",
            "progress": 0,
            "status": "pending",
            "task_info": {
                "can_cancel": True,
                "estimated_time": math.ceil(spec.duration),
                "video_duration": spec.seconds,
            },
            "type": "video",
            "usage": {
                "billing_rule": "per_call",
                "credits_reserved": 7,
                "user_group": "default",
            },
        }

    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        task: dict[str, Any] = {
            "id": ctx.task_id,
            "object": "video.generation.task",
            "created": int(spec.created),
            "model": spec.model,
            "status": _STATUS[snap.phase],
            "progress": snap.progress,
            "type": "video",
            "task_info": {"can_cancel": not snap.phase.terminal},
        }
        if snap.phase is Phase.SUCCEEDED:
            task["results"] = [ctx.video_url]
        elif snap.phase is Phase.FAILED:
            task["progress"] = 0
            if snap.refusal is Refusal.ERROR:
                code, message = "service_error", reason_text(snap)
            else:
                code = "content_policy_violation"
                message = f"Content policy violation.\n{reason_text(snap)}"
            task["error"] = {"code": code, "message": message}
        return task

    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "internal_server_error")
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "type": kind,
            "param": field,
        }
        if status == 429:
            error["fallback_suggestion"] = "retry after 60 seconds"
        return {"error": error}

    def check_callback(self, field: str, url: str, *, allow_loopback: bool) -> None:
        """The document: HTTPS only, no internal addresses, at most 2048 characters.

        ``allow_loopback`` excuses a loopback receiver (``127.0.0.0/8``, ``::1``,
        ``localhost``) from the first two, as a test's or a local bot's receiver
        there has no certificate; every other address keeps the documented rules.
        """
        if len(url) > MAX_CALLBACK_URL:
            message = f"{field}: must be at most {MAX_CALLBACK_URL} characters"
            raise Invalid(field, message)
        parsed = yarl.URL(url)  # Fields.url checked it is an absolute http(s) URL
        host = parsed.host or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            loopback = internal = host == "localhost" or host.endswith(".localhost")
        else:
            loopback = address.is_loopback
            internal = address.is_private or loopback or address.is_link_local
        if allow_loopback and loopback:
            return
        if parsed.scheme != "https":
            raise Invalid(field, f"{field}: only https callback URLs are allowed")
        if internal:
            message = f"{field}: callbacks to internal addresses are refused"
            raise Invalid(field, message)

    def not_found(self, task_id: str) -> dict[str, Any]:
        return self.error(404, f"Task {task_id} not found", code="resource_not_found")

    def image_invalid(self, field: str, message: str) -> Invalid:
        return Invalid(
            field,
            f"image_processing_error: {field}: {message}",
            code="image_processing_error",
        )
