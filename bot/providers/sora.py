"""The ``sora`` dialect: ``POST /sora/v1/videos`` with the raw Sora web-backend body.

The body is sora.com's ``video_gen`` job: ``width``/``height`` from the orientation,
``n_frames`` at 30 fps (the document's table: 150 = 5 s, 300 = 10 s), ``model``
(only ``turbo``), the reference image as an ``inpaint_items`` entry, ``operation:
simple_compose``; a remix is ``operation: remix`` with ``sdedit`` naming the source
generation (the upstream object's ``generations[0].id``). Answers come in
new-api's ``{"code", "message", "data"}`` envelope: the task id on create, the task
(``status``, ``progress`` "37%", ``fail_reason``, upstream object in ``data``) on
``GET /sora/v1/videos/{id}``. Where the MP4 sits inside the upstream object is not
documented: the parser takes ``result_url`` or the upstream object's
``generations[0]`` ``url`` / ``encodings.source.path`` (the reference's proposal) as
they are, else searches it for the first ``http*.mp4`` link.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from bot.capabilities import CapabilityProfile, ModelCapability
from bot.errors import ProviderProtocolError
from bot.models import TaskStatus, VideoResult
from bot.ports import Submission
from bot.providers._base import HTTPProvider, created_id, path_id
from bot.providers._errors import error_for
from bot.providers._http import decode
from bot.providers._normalise import (
    dig,
    find_mp4_url,
    http_url,
    lookup_progress,
    lookup_url,
    parse_state,
    task_status,
    text,
)

FRAMES_PER_SECOND = 30
# sdedit's ``amount`` runs from 1 to 8 (document 001): how far the remix may move
# from the source; the middle keeps the source recognisable yet follows the prompt.
REMIX_AMOUNT = 4


class Envelope(BaseModel):
    """new-api's task envelope; ``code`` is "success" unless something went wrong."""

    code: str | None = None
    data: object = None


def unwrap(answer: object, what: str) -> object:
    """The envelope's ``data``, or the error its ``code`` stands for."""
    envelope = decode(Envelope, answer, what)
    if envelope.code is not None and envelope.code.lower() != "success":
        raise error_for(200, answer)
    return envelope.data


class SoraProvider(HTTPProvider):
    dialect = "sora"
    # Document 001: ``n_frames`` 150 (5 s) or 300 (10 s), ``model`` only "turbo",
    # ``style`` only "natural", its own remix (``operation: remix`` + ``sdedit``).
    # No HD, private or watermark field; 1280x720 and 720x1280 are in its size
    # table; ``operation: storyboard`` exists; ``notify_hook`` (provider-apis.md).
    profile = CapabilityProfile(
        dialect="sora",
        models=(ModelCapability(name="turbo", seconds=(5, 10)),),
        styles=("natural",),
        storyboard=True,
        remix=True,
        image_transport="url",
        image_must_match_size=True,
        callbacks=True,
    )

    def body(self, submission: Submission) -> dict[str, object]:
        request = submission.request
        width, height = self.output_size(request)
        body: dict[str, object] = {
            "type": "video_gen",
            "prompt": request.prompt,
            "width": width,
            "height": height,
            "n_frames": request.seconds * FRAMES_PER_SECOND,
            "n_variants": 1,
            "operation": "simple_compose",
            "model": self.model(request).wire_name,
        }
        if request.remix_of is not None:
            # The source generation carries the picture; no image goes again.
            body["operation"] = "remix"
            body["sdedit"] = {
                "amount": REMIX_AMOUNT,
                "source_generation_id": request.remix_of,
                "source_upload_media_id": None,
            }
        elif images := self.image_urls(submission):
            body["inpaint_items"] = [
                {"type": "image", "url": url, "frame_index": 0} for url in images
            ]
        if request.style:
            body["style"] = request.style
        if hook := self.callback(submission):
            body["notify_hook"] = hook
        return body

    async def create(self, submission: Submission) -> str:
        answer = await self._http.request_json(
            "POST", "/sora/v1/videos", json_body=self.body(submission), task_route=False
        )
        return self.parse_created(answer)

    async def query(self, provider_task_id: str) -> TaskStatus:
        answer = await self._http.request_json(
            "GET", f"/sora/v1/videos/{path_id(provider_task_id)}"
        )
        return self.parse_status(answer)

    @staticmethod
    def parse_created(answer: object) -> str:
        """The envelope's ``data`` is the id itself (or, leniently, a task object)."""
        data = unwrap(answer, "create answer")
        return text(data) or created_id(data)

    @staticmethod
    def parse_status(body: object) -> TaskStatus:
        # Some relays drop the envelope and answer the task itself.
        bare = isinstance(body, Mapping) and "status" in body and "code" not in body
        task = body if bare else unwrap(body, "status answer")
        if not isinstance(task, Mapping):
            raise ProviderProtocolError(
                "The video service's status answer holds no task."
            )
        # The named fields are taken as they are, ``.mp4`` or not (signed CDN links
        # often have none); the download checks the bytes are a video. Only the
        # search through the undocumented rest insists on ``.mp4``.
        upstream = task.get("data")
        url = (
            lookup_url(body)
            or http_url(task.get("result_url"))
            or http_url(dig(upstream, "generations", 0, "url"))
            or http_url(dig(upstream, "generations", 0, "encodings", "source", "path"))
            or find_mp4_url(upstream)
        )
        status = task_status(
            parse_state(task.get("status")),
            progress=lookup_progress(task),
            url=url,
            failure_in=task,
        )
        generation = _generation_id(task.get("data"))
        if generation is None:
            return status
        return status.model_copy(update={"generation_id": generation})

    async def download(
        self, provider_task_id: str, status: TaskStatus, dest: Path
    ) -> VideoResult:
        """The video, remembering its generation id for a later remix."""
        result = await super().download(provider_task_id, status, dest)
        return result.model_copy(update={"generation_id": status.generation_id})


def _generation_id(upstream: object) -> str | None:
    """``generations[0].id`` of the upstream sora.com object, once it has one."""
    if not isinstance(upstream, Mapping):
        return None
    generations = upstream.get("generations")
    if not isinstance(generations, list) or not generations:
        return None
    first = generations[0]
    return text(first.get("id")) if isinstance(first, Mapping) else None
