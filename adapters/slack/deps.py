"""What every listener needs, built once by ``attach``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.slack.admins import AdminCheck
from adapters.slack.blocks import Block, generation_modal
from adapters.slack.convert import build_request, chosen_model
from adapters.slack.parsing import CommandOptions, parse_command
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

    def parse(self, text: str) -> CommandOptions:
        """``/sora`` text, with the flags the configured providers offer."""
        return parse_command(text, self.service.offer)

    def request(
        self,
        options: CommandOptions,
        requester: Requester,
        chat: ChatRef,
        image: ImageInput | None = None,
    ) -> GenerationRequest:
        """``build_request`` with what the providers offer and the default model."""
        return build_request(
            options,
            offer=self.service.offer,
            default_model=self.service.default_model,
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
        options: CommandOptions | None = None,
    ) -> Block:
        """The ``/sora`` form offering what the configured providers can do,
        pre-set to the ``options`` typed with ``/sora`` (``--pro --portrait``)."""
        model = self.service.default_model
        if options is not None:
            model = chosen_model(options, self.service.offer, model)
        return generation_modal(
            metadata,
            self.service.offer,
            model,
            prompt=prompt,
            image_name=image_name,
            options=options,
        )
