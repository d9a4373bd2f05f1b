"""``/sora``: a prompt, an optional picture, and choices drawn from the model table.

The handler defers before anything slow (the attachment download, the database, the
status post): Discord gives an interaction 3 seconds to be acknowledged. What the
member typed is checked by the core; a refusal comes back privately and nothing is
sent to the provider.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from adapters.discord import convert
from adapters.discord.replies import reply, reporting, requester_of, started_text
from bot.config import Settings
from bot.errors import UserInputError
from bot.models import Orientation
from bot.ports import ProviderFeatures
from bot.service import VideoService
from bot.validation import MAX_PROMPT_CHARS

# Discord shows at most 25 choices per option.
_MAX_CHOICES = 25

_THREAD_TYPES = frozenset(
    {
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    }
)

Prompt = app_commands.Range[str, 1, MAX_PROMPT_CHARS]


def _choices(values: list[str]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values[:_MAX_CHOICES]]


def _in_thread(interaction: discord.Interaction[Any]) -> bool:
    channel = interaction.channel
    return channel is not None and channel.type in _THREAD_TYPES


async def _download(image: discord.Attachment) -> bytes:
    try:
        return await image.read()
    except discord.HTTPException as error:
        raise UserInputError(
            f"I could not download `{image.filename}` from Discord. Attach it again."
        ) from error


def sora_command(
    service: VideoService, settings: Settings, features: ProviderFeatures
) -> app_commands.Command[Any, ..., None]:
    """Build ``/sora`` with choices from this bot's models and provider."""
    default_model = settings.sora_model
    seconds = sorted({s for m in settings.sora_models for s in m.seconds})

    async def sora(
        interaction: discord.Interaction[Any],
        prompt: Prompt,
        image: discord.Attachment | None = None,
        model: str | None = None,
        orientation: str | None = None,
        duration: int | None = None,
        hd: bool | None = None,
        style: str | None = None,
    ) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            reference = None
            if image is not None:
                convert.check_attachment(image.filename, image.content_type, image.size)
                reference = convert.image_input(
                    image.filename,
                    await _download(image),
                    image.content_type,
                    image.url,
                )
            spec = settings.model_spec(model or default_model)
            request = convert.generation_request(
                prompt=prompt,
                requester=requester_of(interaction),
                chat=convert.chat_ref(
                    interaction.guild_id or 0,
                    interaction.channel_id or 0,
                    in_thread=_in_thread(interaction),
                    upload_limit=interaction.filesize_limit,
                ),
                default_model=default_model,
                default_seconds=spec.seconds[0] if spec else seconds[0],
                image=reference,
                model=model,
                orientation=orientation,
                seconds=duration,
                hd=hd,
                style=style,
            )
            task = await service.submit(request)
            await reply(interaction, started_text(task))

    callback: Any = sora
    callback = app_commands.describe(
        prompt="What the video shows",
        image="A picture to start from (JPEG, PNG or WebP, up to 10 MB)",
        model="Which model makes the video",
        orientation="Landscape or portrait",
        duration="Length in seconds",
        hd="High definition (some models only)",
        style="A visual style",
    )(callback)
    choices: dict[str, Any] = {
        "model": _choices([m.name for m in settings.sora_models]),
        "orientation": _choices([o.value for o in Orientation]),
        "duration": [app_commands.Choice(name=f"{s} s", value=s) for s in seconds],
    }
    if features.styles:
        choices["style"] = _choices(list(features.styles))
    callback = app_commands.choices(**choices)(callback)
    callback = app_commands.guild_only()(callback)
    return app_commands.command(name="sora", description="Make a video with Sora")(
        callback
    )
