"""**Animate with Sora**: a message's Apps menu turns its picture into a video.

Like the Slack message shortcut, it takes the message's first image (an image
attachment, else an embed's image) and opens a form for the prompt, pre-filled with
the message's text. A modal must be Discord's first answer to the command, so the
picture is only looked at then and downloaded once the form comes back; a message
without one gets a private answer instead of the form.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import discord
from discord import app_commands

from adapters.discord.buttons import MODAL_TIMEOUT
from adapters.discord.replies import reply, reporting, started_text
from adapters.discord.sora_command import fetch_image, request_for
from bot.rendering import NO_IMAGE_TO_ANIMATE
from bot.service import VideoService
from bot.validation import MAX_PROMPT_CHARS

MENU_NAME = "Animate with Sora"


@dataclass(frozen=True, slots=True)
class MessageImage:
    """Where a message's picture is, and what Discord says about it.

    ``size`` is ``None`` for an embed's image: Discord does not say, so only the
    download and the core's checks can tell.
    """

    url: str
    filename: str
    content_type: str
    size: int | None


def _is_image(attachment: discord.Attachment) -> bool:
    content_type = (
        attachment.content_type or mimetypes.guess_type(attachment.filename)[0]
    )
    return (content_type or "").lower().startswith("image/")


def message_image(message: discord.Message) -> MessageImage | None:
    """The first image attachment, else the first embed image, else ``None``."""
    for attachment in message.attachments:
        if _is_image(attachment):
            return MessageImage(
                url=attachment.url,
                filename=attachment.filename,
                content_type=attachment.content_type
                or mimetypes.guess_type(attachment.filename)[0]
                or "",
                size=attachment.size,
            )
    for embed in message.embeds:
        url = embed.image.url
        if url:
            name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
            return MessageImage(
                url=url,
                filename=name,
                content_type=mimetypes.guess_type(name)[0] or "",
                size=None,
            )
    return None


class AnimateModal(discord.ui.Modal, title=MENU_NAME):
    """The prompt for animating one message's picture."""

    prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
        label="What should happen in the video?",
        custom_id="sora:animate-prompt",
        style=discord.TextStyle.paragraph,
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
    )

    def __init__(
        self,
        service: VideoService,
        image: MessageImage,
        message_text: str,
    ) -> None:
        super().__init__(custom_id="sora:animate-form", timeout=MODAL_TIMEOUT)
        self._service = service
        self._image = image
        if message_text.strip():
            self.prompt.default = message_text.strip()[:MAX_PROMPT_CHARS]

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            reference = await fetch_image(interaction, self._image)
            request = request_for(
                interaction, self._service, self.prompt.value, reference
            )
            task = await self._service.submit(request)
            await reply(interaction, started_text(task))


def animate_menu(service: VideoService) -> app_commands.ContextMenu:
    """The message command; registered with the slash commands at every start."""

    async def animate(
        interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        async with reporting(interaction):
            image = message_image(message)
            if image is None:
                await reply(interaction, NO_IMAGE_TO_ANIMATE)
                return
            await interaction.response.send_modal(
                AnimateModal(service, image, message.content)
            )

    menu = app_commands.ContextMenu(name=MENU_NAME, callback=animate)
    return app_commands.guild_only()(menu)
