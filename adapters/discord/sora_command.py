"""``/sora``: a prompt, an optional picture, and choices the providers can make.

The choices (models, lengths, HD, styles) come from ``service.offer``: an option no
configured provider has is not registered at all. The handler defers before
anything slow (the attachment download, the database, the status post): Discord
gives an interaction 3 seconds to be acknowledged. What the member typed is checked
by the core; a refusal comes back privately and nothing is sent to the provider.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from adapters.discord import convert
from adapters.discord.replies import reply, reporting, requester_of, started_text
from bot.errors import UserInputError
from bot.models import GenerationRequest, ImageInput, Orientation
from bot.service import VideoService
from bot.validation import MAX_IMAGE_BYTES, MAX_PROMPT_CHARS

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

_DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=30)
_CHUNK = 64 * 1024


def _choices(values: list[str]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values[:_MAX_CHOICES]]


def _in_thread(interaction: discord.Interaction[Any]) -> bool:
    channel = interaction.channel
    return channel is not None and channel.type in _THREAD_TYPES


def _parent_id(interaction: discord.Interaction[Any]) -> int | None:
    """The channel of the thread the command was typed in, if it was."""
    channel = interaction.channel
    return channel.parent_id if isinstance(channel, discord.Thread) else None


class ImageRef(Protocol):
    """Where a picture is and what Discord says about it: a ``discord.Attachment``,
    or an embed's image (``size`` ``None``: Discord does not say)."""

    @property
    def url(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def size(self) -> int | None: ...


async def fetch_image(
    interaction: discord.Interaction[Any], image: ImageRef
) -> ImageInput:
    """The picture from Discord's CDN (or an embed's host), with the bot's HTTP
    session. A known ``size`` that can never be accepted is refused before the
    download."""
    try:
        if image.size is not None:
            convert.check_attachment(image.filename, image.content_type, image.size)
            data: bytes = await interaction.client.http.get_from_cdn(image.url)
        else:
            data = await _read_at_most(image.url, MAX_IMAGE_BYTES)
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
        raise UserInputError(
            f"I could not download `{image.filename}` from Discord. Attach it again."
        ) from error
    return convert.image_input(image.filename, data, image.content_type, image.url)


async def _read_at_most(url: str, limit: int) -> bytes:
    """At most ``limit`` bytes and one chunk: an embed's image may be hosted
    anywhere and be any size, and nothing says how large before downloading. More
    than ``limit`` is refused afterwards by the core's size check."""
    async with (
        aiohttp.ClientSession(trust_env=True, timeout=_DOWNLOAD_TIMEOUT) as session,
        session.get(url, raise_for_status=True) as response,
    ):
        data = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > limit:
                break
        return bytes(data)


def request_for(
    interaction: discord.Interaction[Any],
    service: VideoService,
    prompt: str,
    image: ImageInput | None,
    **choices: Any,
) -> GenerationRequest:
    """The member's request from this interaction; choices left out take the
    defaults (the default model, the model's shortest length)."""
    model = choices.get("model") or service.default_model
    return convert.generation_request(
        prompt=prompt,
        requester=requester_of(interaction),
        chat=convert.chat_ref(
            interaction.guild_id or 0,
            interaction.channel_id or 0,
            in_thread=_in_thread(interaction),
            upload_limit=interaction.filesize_limit,
            parent_id=_parent_id(interaction),
        ),
        default_model=service.default_model,
        default_seconds=service.offer.default_seconds(model),
        image=image,
        **choices,
    )


def _without(handler: Any, absent: set[str]) -> Any:
    """``handler`` as discord.py will see it: without the parameters in ``absent``.

    discord.py registers one option per parameter of the signature it inspects;
    a left-out option keeps its default (``None``) when the handler runs.
    """
    if not absent:
        return handler
    signature = inspect.signature(handler)
    kept = [p for p in signature.parameters.values() if p.name not in absent]
    handler.__signature__ = signature.replace(parameters=kept)
    return handler


def sora_command(service: VideoService) -> app_commands.Command[Any, ..., None]:
    """Build ``/sora`` with the choices the configured providers offer."""
    offer = service.offer

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
                reference = await fetch_image(interaction, image)
            request = request_for(
                interaction,
                service,
                prompt,
                reference,
                model=model,
                orientation=orientation,
                seconds=duration,
                hd=hd,
                style=style,
            )
            task = await service.submit(request)
            await reply(interaction, started_text(task))

    hd_models = [m.name for m in offer.models if m.hd]
    descriptions = {
        "prompt": "What the video shows",
        "image": "A picture to start from (JPEG, PNG or WebP, up to 10 MB)",
        "model": "Which model makes the video",
        "orientation": "Landscape or portrait",
        "duration": "Length in seconds",
        "hd": f"High definition ({', '.join(hd_models)})",
        "style": "A visual style",
    }
    choices: dict[str, Any] = {
        "model": _choices(list(offer.model_names)),
        "orientation": _choices([o.value for o in Orientation]),
        "duration": [
            app_commands.Choice(name=f"{s} s", value=s) for s in offer.seconds
        ],
    }
    absent = set() if hd_models else {"hd"}
    if offer.styles:
        choices["style"] = _choices(list(offer.styles))
    else:
        absent.add("style")
    callback: Any = _without(sora, absent)
    callback = app_commands.describe(
        **{k: v for k, v in descriptions.items() if k not in absent}
    )(callback)
    callback = app_commands.choices(**choices)(callback)
    callback = app_commands.guild_only()(callback)
    return app_commands.command(name="sora", description="Make a video with Sora")(
        callback
    )
