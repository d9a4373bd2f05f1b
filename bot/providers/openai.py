"""The ``openai`` dialect: OpenAI's video API as relays serve it.

``POST /v1/videos`` takes multipart/form-data with the reference image as the
``input_reference`` file part; ``GET /v1/videos/{id}`` answers a ``video`` object;
the MP4 comes from ``video_url``/``url`` when the relay adds one, else from
``GET /v1/videos/{id}/content``.
"""

from __future__ import annotations

from pathlib import Path

from bot.capabilities import HD_SIZE, SORA_2, SORA_2_PRO, CapabilityProfile
from bot.models import TaskStatus, VideoResult
from bot.ports import Submission
from bot.providers._base import HTTPProvider, path_id
from bot.providers._http import FormParts
from bot.providers._normalise import status_from_body
from bot.providers.sizes import size_text


class OpenAIProvider(HTTPProvider):
    dialect = "openai"
    # Document 003: HD through ``size`` (1792x1024 / 1024x1792); ``watermark``
    # (example ``false``); no private field, no callback field; the image is the
    # ``input_reference`` upload and must match the size.
    profile = CapabilityProfile(
        dialect="openai",
        models=(SORA_2, SORA_2_PRO.model_copy(update={"seconds": (10, 15)})),
        hd_size=HD_SIZE,
        watermark=True,
        watermark_default=False,
        image_transport="upload",
        image_must_match_size=True,
    )

    def form(self, submission: Submission) -> FormParts:
        """The text fields, then the reference image as the ``input_reference`` file."""
        request = submission.request
        parts: FormParts = [
            ("model", (None, self.model(request).wire_name)),
            ("prompt", (None, request.prompt)),
            ("size", (None, size_text(self.output_size(request)))),
            ("seconds", (None, str(request.seconds))),
            ("watermark", (None, "true" if self.watermark else "false")),
        ]
        if submission.image is not None:
            image = submission.image
            parts.append(
                ("input_reference", (image.filename, image.data, image.content_type))
            )
        return parts

    async def create(self, submission: Submission) -> str:
        answer = await self._http.request_json(
            "POST", "/v1/videos", form=self.form(submission), task_route=False
        )
        return self.parse_created(answer)

    async def query(self, provider_task_id: str) -> TaskStatus:
        answer = await self._http.request_json(
            "GET", f"/v1/videos/{path_id(provider_task_id)}"
        )
        return self.parse_status(answer)

    @staticmethod
    def parse_status(body: object) -> TaskStatus:
        return status_from_body(body, url_optional=True)

    async def download(
        self, provider_task_id: str, status: TaskStatus, dest: Path
    ) -> VideoResult:
        if status.video_url is not None:
            return await self._http.download(status.video_url, dest)
        content = self._http.url(f"/v1/videos/{path_id(provider_task_id)}/content")
        return await self._http.download(content, dest, json_redirect=True)
