"""The ``v2`` dialect: ``POST /v2/videos/generations`` (yutoai, t8star, comfly, bltcy).

JSON body with ``duration`` as a string ("10"/"15"/"25"), ``aspect_ratio`` 16:9 or
9:16, ``hd``, ``private``, ``watermark``, ``notify_hook`` and ``images: [url]``;
answers ``{"task_id"}``. ``GET /v2/videos/generations/{id}`` answers ``status``
NOT_START/IN_PROGRESS/SUCCESS/FAILURE, ``progress`` "45%", ``fail_reason`` and the
video at ``data.output``.
"""

from __future__ import annotations

from bot.capabilities import HD_SIZE, SORA_2, SORA_2_PRO, CapabilityProfile
from bot.models import TaskStatus
from bot.ports import Submission
from bot.providers._base import HTTPProvider, path_id
from bot.providers._normalise import status_from_body
from bot.providers.sizes import ASPECT_RATIOS


class V2Provider(HTTPProvider):
    dialect = "v2"
    # Document 000: sora-2 10/15 s, sora-2-pro also 25 s and HD ("when set to 25,
    # HD has no effect"); ``private``; ``watermark`` "Default: false";
    # ``notify_hook``; "Inpaint image must match the requested width and height".
    profile = CapabilityProfile(
        dialect="v2",
        models=(SORA_2, SORA_2_PRO),
        hd_size=HD_SIZE,
        private=True,
        watermark=True,
        watermark_default=False,
        image_transport="url",
        image_must_match_size=True,
        callbacks=True,
    )

    def body(self, submission: Submission) -> dict[str, object]:
        request = submission.request
        body: dict[str, object] = {
            "prompt": request.prompt,
            "model": self.model(request).wire_name,
            "aspect_ratio": ASPECT_RATIOS[request.orientation],
            "hd": self.profile.hd_applies(request),
            "duration": str(request.seconds),
            "watermark": self.watermark,
            "private": request.private,
        }
        if images := self.image_urls(submission):
            body["images"] = images
        if hook := self.callback(submission):
            body["notify_hook"] = hook
        return body

    async def create(self, submission: Submission) -> str:
        answer = await self._http.request_json(
            "POST",
            "/v2/videos/generations",
            json_body=self.body(submission),
            task_route=False,
        )
        return self.parse_created(answer)

    async def query(self, provider_task_id: str) -> TaskStatus:
        answer = await self._http.request_json(
            "GET", f"/v2/videos/generations/{path_id(provider_task_id)}"
        )
        return self.parse_status(answer)

    @staticmethod
    def parse_status(body: object) -> TaskStatus:
        return status_from_body(body)
