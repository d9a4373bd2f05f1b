"""Pure conversions from what a Discord interaction carries to the core's models.

Nothing here talks to Discord: the command handlers pass in plain values read from
the interaction, so these rules are testable without a gateway.
"""

from __future__ import annotations

from bot.errors import UserInputError
from bot.models import (
    ChatRef,
    GenerationRequest,
    ImageInput,
    Orientation,
    Platform,
    Requester,
)
from bot.validation import MAX_IMAGE_BYTES

# Discord's default per-file upload limit, used when an interaction did not say
# (https://discord.com/developers/docs/reference#uploading-files; 10 MiB since
# 2025-01-16, boosted servers allow 50/100 MiB and say so per interaction).
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024

# Thread names are 1-100 characters (Discord "Start Thread from Message").
MAX_THREAD_NAME = 100
FALLBACK_THREAD_NAME = "Sora video"


def check_attachment(filename: str, content_type: str | None, size: int) -> None:
    """Refuse an attachment from what Discord says about it, before downloading it.

    The bytes are sniffed again after download (``bot.validation``); this check only
    spares the bot a 25 MB download of something that can never be accepted.
    """
    if not (content_type or "").lower().startswith("image/"):
        raise UserInputError(
            f"`{filename}` is not an image. Attach a .jpg, .png or .webp picture."
        )
    if size > MAX_IMAGE_BYTES:
        megabytes = size / (1024 * 1024)
        raise UserInputError(
            f"The image `{filename}` is {megabytes:.1f} MB; reference images can be "
            "at most 10 MB. Attach a smaller one."
        )


def image_input(
    filename: str, data: bytes, content_type: str | None, url: str
) -> ImageInput:
    """The downloaded attachment; its CDN URL lets URL-only dialects skip hosting."""
    return ImageInput(
        filename=filename, data=data, content_type=content_type or "", source_url=url
    )


def chat_ref(
    guild_id: int,
    channel_id: int,
    *,
    in_thread: bool,
    upload_limit: int | None,
    parent_id: int | None = None,
) -> ChatRef:
    """Where the task's messages go.

    A command typed inside a thread cannot get a thread of its own (Discord has no
    threads in threads), so the status message and the result share that thread.
    """
    return ChatRef(
        platform=Platform.DISCORD,
        workspace_id=str(guild_id),
        channel_id=str(channel_id),
        thread_id=str(channel_id) if in_thread else None,
        upload_limit=upload_limit,
        parent_channel_id=None if parent_id is None else str(parent_id),
    )


def generation_request(
    *,
    prompt: str,
    requester: Requester,
    chat: ChatRef,
    default_model: str,
    default_seconds: int,
    image: ImageInput | None = None,
    model: str | None = None,
    orientation: str | None = None,
    seconds: int | None = None,
    hd: bool | None = None,
    style: str | None = None,
) -> GenerationRequest:
    """The request as typed; options left out take the bot's defaults.

    Private mode is not a user option: the core applies the channel's setting.
    """
    return GenerationRequest(
        prompt=prompt,
        model=model or default_model,
        orientation=Orientation(orientation) if orientation else Orientation.LANDSCAPE,
        seconds=seconds if seconds is not None else default_seconds,
        hd=bool(hd),
        style=style or None,
        image=image,
        requester=requester,
        chat=chat,
    )


def thread_name(prompt: str) -> str:
    """A thread title from the prompt: one line, 1-100 characters."""
    line = " ".join(prompt.split())
    if not line:
        return FALLBACK_THREAD_NAME
    if len(line) <= MAX_THREAD_NAME:
        return line
    return line[: MAX_THREAD_NAME - 1].rstrip() + "…"
