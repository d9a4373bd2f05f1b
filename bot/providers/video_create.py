"""The ``video-create`` dialect: ``POST /v1/video/create`` + ``GET /v1/video/query``.

JSON body with ``images`` (URL list, ``[]`` for text-to-video), ``model``,
``orientation`` portrait/landscape, ``prompt``, ``size`` small (720p) or large,
``duration`` 10/15/25, ``watermark``, ``private``, ``style`` and ``storyboard``;
answers ``{"id": "sora-2:task_…", "status", "status_update_time"}``. The query
takes the id URL-encoded and answers ``status``, ``progress`` ("0" or an int; else
``detail.pending_info.progress_pct`` as a 0-1 fraction) and ``video_url``/``url``.
"""

from __future__ import annotations

from bot.capabilities import HD_SIZE, SORA_2, SORA_2_PRO, CapabilityProfile
from bot.models import TaskStatus
from bot.ports import Submission
from bot.providers._base import HTTPProvider
from bot.providers._normalise import status_from_body

STYLES = ("thanksgiving", "comic", "news", "selfie", "nostalgic", "anime")


class VideoCreateProvider(HTTPProvider):
    dialect = "video-create"
    # Document 004: ``duration`` 10/15/25 ("sora-2-pro supports longer
    # durations"), HD as ``size: large``, ``private``, ``watermark`` ("The default
    # is true"), styles, storyboard; no callback field.
    profile = CapabilityProfile(
        dialect="video-create",
        models=(SORA_2, SORA_2_PRO),
        hd_size=HD_SIZE,
        private=True,
        watermark=True,
        watermark_default=True,
        styles=STYLES,
        storyboard=True,
        image_transport="url",
    )

    def body(self, submission: Submission) -> dict[str, object]:
        request = submission.request
        body: dict[str, object] = {
            "images": self.image_urls(submission),
            "model": self.model(request).wire_name,
            "orientation": request.orientation.value,
            "prompt": request.prompt,
            "size": "large" if self.profile.hd_applies(request) else "small",
            "duration": request.seconds,
            "watermark": self.watermark,
            "private": request.private,
            "storyboard": False,
        }
        if request.style:
            body["style"] = request.style
        return body

    async def create(self, submission: Submission) -> str:
        answer = await self._http.request_json(
            "POST",
            "/v1/video/create",
            json_body=self.body(submission),
            task_route=False,
        )
        return self.parse_created(answer)

    async def query(self, provider_task_id: str) -> TaskStatus:
        answer = await self._http.request_json(
            "GET", "/v1/video/query", params={"id": provider_task_id}
        )
        return self.parse_status(answer)

    @staticmethod
    def parse_status(body: object) -> TaskStatus:
        return status_from_body(body)
