"""What every listener needs, built once by ``attach``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.slack.admins import AdminCheck
from adapters.slack.blocks import Block, generation_modal
from adapters.slack.convert import build_request
from adapters.slack.parsing import CommandOptions
from bot.config import Settings
from bot.models import ChatRef, GenerationRequest, ImageInput, Requester
from bot.service import VideoService


@dataclass(frozen=True)
class SlackDeps:
    """The core's service plus the Slack-side helpers the listeners share.

    ``session`` and ``token`` fetch private images (``url_private`` needs the bot
    token as a Bearer header); ``admins`` decides who may change settings.
    """

    service: VideoService
    settings: Settings
    session: aiohttp.ClientSession
    token: str
    admins: AdminCheck

    def request(
        self,
        options: CommandOptions,
        requester: Requester,
        chat: ChatRef,
        image: ImageInput | None = None,
    ) -> GenerationRequest:
        """``build_request`` with the operator's model table and default model."""
        return build_request(
            options,
            models=self.settings.sora_models,
            default_model=self.settings.sora_model,
            requester=requester,
            chat=chat,
            image=image,
        )

    def form(
        self,
        metadata: dict[str, Any],
        *,
        prompt: str = "",
        image_name: str | None = None,
    ) -> Block:
        """The ``/sora`` form offering the operator's models."""
        return generation_modal(
            metadata,
            self.settings.sora_models,
            self.settings.sora_model,
            prompt=prompt,
            image_name=image_name,
        )
