"""The ``unified`` dialect: EvoLink's task API.

``POST /v1/videos/generations`` takes ``model``, ``prompt``, ``aspect_ratio``,
``duration`` (int 10/15), ``remove_watermark``, ``image_urls`` (one URL) and an
HTTPS ``callback_url``; it answers a task object whose ``id`` ``GET /v1/tasks/{id}``
reports on: ``status`` pending/processing/completed/failed, ``progress`` 0-100,
``results: [url]`` when completed and ``error{code,message}`` when failed.
"""

from __future__ import annotations

from bot.capabilities import SORA_2, SORA_2_PRO, CapabilityProfile
from bot.models import TaskStatus
from bot.ports import Submission
from bot.providers._base import HTTPProvider, path_id
from bot.providers._normalise import status_from_body
from bot.providers.sizes import ASPECT_RATIOS


class UnifiedProvider(HTTPProvider):
    dialect = "unified"
    # Document 002: ``duration`` 10 or 15 only, no HD field, no private field, an
    # HTTPS ``callback_url``. ``remove_watermark`` is "true" by the document's
    # default at "higher pricing": the bot keeps the watermark (standard pricing)
    # unless the operator chooses ``watermark: false``.
    profile = CapabilityProfile(
        dialect="unified",
        models=(
            SORA_2,
            SORA_2_PRO.model_copy(update={"seconds": (10, 15), "hd_seconds": ()}),
        ),
        watermark=True,
        watermark_default=True,
        image_transport="url",
        callbacks=True,
        https_callbacks_only=True,
    )

    def body(self, submission: Submission) -> dict[str, object]:
        request = submission.request
        body: dict[str, object] = {
            "model": self.model(request).wire_name,
            "prompt": request.prompt,
            "aspect_ratio": ASPECT_RATIOS[request.orientation],
            "duration": request.seconds,
            # Always sent: left out, EvoLink removes the watermark and bills more.
            "remove_watermark": not self.watermark,
        }
        if images := self.image_urls(submission):
            body["image_urls"] = images
        if hook := self.callback(submission):
            body["callback_url"] = hook
        return body

    async def create(self, submission: Submission) -> str:
        answer = await self._http.request_json(
            "POST",
            "/v1/videos/generations",
            json_body=self.body(submission),
            task_route=False,
        )
        return self.parse_created(answer)

    async def query(self, provider_task_id: str) -> TaskStatus:
        answer = await self._http.request_json(
            "GET", f"/v1/tasks/{path_id(provider_task_id)}"
        )
        return self.parse_status(answer)

    @staticmethod
    def parse_status(body: object) -> TaskStatus:
        return status_from_body(body)
