"""Dialect ``sora``: the raw Sora web-backend body at ``POST /sora/v1/videos``.

Create answers the new-api envelope ``{"code": "success", "message": "", "data":
"task_..."}``; ``GET /sora/v1/videos/{id}`` answers the same envelope around a task
DTO (``status`` NOT_START|IN_PROGRESS|SUCCESS|FAILURE, ``progress`` like ``"37%"``,
``fail_reason``) whose ``data`` is the upstream sora.com object (``progress_pct``
0-1, the video at ``generations[0].url``). Errors use the envelope with HTTP 400
(``task_not_exist`` for unknown ids); a refused key gets new-api's middleware
``{"error": {...}}`` body. ``notify_hook`` receives the status answer at the end.

``width``/``height`` must be one of the pairs the document lists, and ``n_frames``
one of its table's two entries, "150": 5 s and "300": 10 s (so 450 for 15 s is
refused). ``model`` and ``style`` have one documented value each (``turbo``,
``natural``); anything outside the document (``private``, ``hd``, ``watermark``,
``duration``) is an unknown parameter. A reference image goes in ``inpaint_items``
by URL and must have exactly ``width`` x ``height`` pixels.

``operation: remix`` needs ``sdedit`` naming the generation to remix:
``source_generation_id`` is the ``id`` of ``generations[0]`` in a finished task's
status answer (``gen_`` and the task's code, so a restarted simulator still knows
it); a task id, an unfinished or failed task, or an id this simulator never made is
refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.simulator._tasks import Option, Phase, Snapshot, TaskSpec, snapshot
from bot.simulator.dialects._base import (
    Context,
    Dialect,
    Draft,
    ImageRef,
    ImageRule,
    reason_text,
)
from bot.simulator.dialects._fields import Fields, Invalid

_ALLOWED = frozenset(
    {
        "actions",
        "inpaint_items",
        "type",
        "style",
        "prompt",
        "width",
        "height",
        "n_frames",
        "n_variants",
        "sdedit",
        "operation",
        "model",
        "notify_hook",
    }
)
_ITEM_FIELDS = frozenset(
    {
        "type",
        "url",
        "frame_index",
        "preset_id",
        "generation_id",
        "upload_media_id",
        "source_start_frame",
        "source_end_frame",
    }
)
_PAIRS = ((480, 480), (720, 720), (480, 854), (854, 480), (1280, 720), (720, 1280))
FPS = 30
# The document's whole table: "150": "5s", "300": "10s".
_FRAMES = {150: 5, 300: 10}
_OPERATIONS = {
    "simple_compose": Option.NONE,
    "storyboard": Option.STORYBOARD,
    "remix": Option.REMIX,
    "blend": Option.BLEND,
}
_GENERATION_PREFIX = "gen_"
_STATUS = {
    Phase.QUEUED: "NOT_START",
    Phase.RUNNING: "IN_PROGRESS",
    Phase.SUCCEEDED: "SUCCESS",
    Phase.FAILED: "FAILURE",
}
_UPSTREAM_STATUS = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "succeeded",
    Phase.FAILED: "failed",
}


class Sora(Dialect):
    name = "sora"
    create_path = "/sora/v1/videos"
    query_path = "/sora/v1/videos/{task_id}"
    image_rule = ImageRule.MATCH_SIZE
    not_found_status = 400

    def task_id(self, spec: TaskSpec, code: str) -> str:
        return f"task_{code}"

    def code_of(self, task_id: str) -> str:
        return task_id.removeprefix("task_")

    def validate(self, body: Mapping[str, Any]) -> Draft:
        fields = Fields(body, _ALLOWED)
        fields.choice("type", ("video_gen",))
        prompt = fields.string("prompt", required=True)
        width = fields.integer("width", required=True) or 0
        height = fields.integer("height", required=True) or 0
        if (width, height) not in _PAIRS:
            pairs = ", ".join(f"{w}x{h}" for w, h in _PAIRS)
            raise Invalid("width", f"width x height must be one of {pairs}")
        n_frames = fields.integer("n_frames", required=True) or 0
        if n_frames not in _FRAMES:
            listed = ", ".join(f"{n} ({s} s)" for n, s in _FRAMES.items())
            raise Invalid("n_frames", f"n_frames must be one of {listed}")
        fields.integer("n_variants")
        fields.choice("style", ("natural",))
        operation = fields.choice("operation", tuple(_OPERATIONS)) or "simple_compose"
        model = fields.choice("model", ("turbo",)) or "turbo"
        callback = fields.callback("notify_hook")
        _check_actions(fields.objects("actions"))
        sdedit = body.get("sdedit")
        if operation == "remix" and sdedit is None:
            raise Invalid(
                "sdedit",
                "sdedit: operation remix needs sdedit.source_generation_id, "
                "the generation to remix",
            )
        _check_sdedit(sdedit)
        images = tuple(
            _inpaint_image(index, item)
            for index, item in enumerate(fields.objects("inpaint_items"))
        )
        options = _OPERATIONS[operation]
        if images:
            options |= Option.IMAGE
        return Draft(
            prompt=prompt,
            model=model,
            seconds=_FRAMES[n_frames],
            width=width,
            height=height,
            options=options,
            images=images,
            callback=callback,
        )

    def created(self, spec: TaskSpec, ctx: Context) -> dict[str, Any]:
        return {"code": "success", "message": "", "data": ctx.task_id}

    def status(self, spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
        task = {
            "task_id": ctx.task_id,
            "notify_hook": (ctx.extras.callback_url or "") if ctx.extras else "",
            "action": "sora-video",
            "status": _STATUS[snap.phase],
            "fail_reason": reason_text(snap),
            "submit_time": int(spec.created),
            "start_time": int(snap.started_at or 0),
            "finish_time": int(snap.finished_at or 0),
            "progress": f"{snap.progress}%",
            "data": _upstream(spec, snap, ctx),
        }
        return {"code": "success", "message": "", "data": task}

    def error(
        self, status: int, message: str, *, code: str, field: str | None = None
    ) -> dict[str, Any]:
        if status == 401:
            # new-api's auth middleware answers before the task routes do.
            return {
                "error": {"message": message, "type": "new_api_error", "code": code}
            }
        if status == 429:
            # new-api rewrites upstream 429 messages to this sentence.
            message = "upstream is overloaded, please try again later"
        return {"code": code, "message": message, "data": None}

    def not_found(self, task_id: str) -> dict[str, Any]:
        return {"code": "task_not_exist", "message": "task_not_exist", "data": None}


def _upstream(spec: TaskSpec, snap: Snapshot, ctx: Context) -> dict[str, Any]:
    """The sora.com task object new-api keeps verbatim in ``data.data``."""
    urls = ctx.extras.image_urls if ctx.extras else ()
    generations: list[dict[str, Any]] = []
    if snap.phase is Phase.SUCCEEDED:
        generations.append(
            {
                "id": generation_id(ctx.code),
                "task_id": ctx.task_id,
                "url": ctx.video_url,
                "width": spec.width,
                "height": spec.height,
                "n_frames": spec.seconds * FPS,
                "encodings": {
                    "source": {"path": ctx.video_url},
                    "md": {"path": ctx.video_url},
                },
            }
        )
    created = datetime.fromtimestamp(spec.created, UTC)
    return {
        "id": ctx.task_id,
        "type": "video_gen",
        "status": _UPSTREAM_STATUS[snap.phase],
        "progress_pct": snap.share,
        "generations": generations,
        "n_frames": spec.seconds * FPS,
        "operation": _operation(spec.options),
        "inpaint_items": [{"type": "image", "url": url} for url in urls],
        "width": spec.width,
        "height": spec.height,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "failure_reason": reason_text(snap) or None,
    }


def generation_id(code: str) -> str:
    """The id of a finished task's video, for a later ``sdedit.source_generation_id``.

    It carries the task's whole code, so any simulator instance can tell which task
    (and whether that task has finished) from the id alone.
    """
    return f"{_GENERATION_PREFIX}{code}"


def _operation(options: Option) -> str:
    """The operation a task was created with, as its status answer echoes it."""
    for name, flag in _OPERATIONS.items():
        if flag and options & flag:
            return name
    return "simple_compose"


def _inpaint_image(index: int, item: Mapping[str, Any]) -> ImageRef:
    prefix = f"inpaint_items[{index}]."
    fields = Fields(item, _ITEM_FIELDS, prefix)
    fields.choice("type", ("image",))
    for name in ("frame_index", "source_start_frame", "source_end_frame"):
        fields.integer(name, minimum=0)
    for name in ("preset_id", "generation_id"):
        fields.string(name)
    url = fields.url("url")
    if url:
        return ImageRef(f"{prefix}url", url=url)
    if fields.string("upload_media_id"):
        # This simulator has no upload route, so no media id can be known.
        raise Invalid(f"{prefix}upload_media_id", f"{prefix}upload_media_id: unknown")
    raise Invalid(f"{prefix}url", f"{prefix}url: an inpaint item needs an image url")


def _check_actions(actions: list[Mapping[str, Any]]) -> None:
    for index, action in enumerate(actions):
        fields = Fields(action, {"time", "description"}, f"actions[{index}].")
        fields.number("time", required=True)
        fields.string("description", required=True)


def _check_sdedit(sdedit: object) -> None:
    if sdedit is None:
        return
    if not isinstance(sdedit, dict):
        raise Invalid("sdedit", "sdedit: expected an object")
    allowed = {"amount", "source_generation_id", "source_upload_media_id"}
    fields = Fields(sdedit, allowed, "sdedit.")
    amount = fields.integer("amount", required=True) or 0
    if amount > 8:
        raise Invalid("sdedit.amount", "sdedit.amount: must be between 1 and 8")
    source = fields.string("source_generation_id", required=True)
    _check_generation(source)
    if fields.string("source_upload_media_id"):
        # This simulator has no upload route, so no media id can be known.
        raise Invalid(
            "sdedit.source_upload_media_id", "sdedit.source_upload_media_id: unknown"
        )


def _check_generation(generation: str) -> None:
    """The remixed generation must be a finished video of this (sora) simulator."""
    field = "sdedit.source_generation_id"
    code = generation.removeprefix(_GENERATION_PREFIX)
    spec = TaskSpec.decode(code) if generation.startswith(_GENERATION_PREFIX) else None
    if spec is None or spec.dialect != Sora.name:
        raise Invalid(field, f"{field}: no generation {generation!r}")
    if snapshot(spec, time.time()).phase is not Phase.SUCCEEDED:
        raise Invalid(
            field, f"{field}: generation {generation!r} has no finished video"
        )
