"""Pure conversions between Slack payloads and the core's models.

Nothing here talks to Slack: the listeners fetch, these functions translate, and
the service decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack.blocks import IMAGE_FILETYPES
from adapters.slack.parsing import CommandOptions
from bot.capabilities import Offer
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

_IMAGE_MIMETYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


@dataclass(frozen=True)
class SlackFile:
    """The parts of a Slack file object the bot needs to fetch it."""

    id: str
    name: str
    mimetype: str
    filetype: str
    size: int
    url: str

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> SlackFile:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or data.get("title") or "image"),
            mimetype=str(data.get("mimetype", "")),
            filetype=str(data.get("filetype", "")).lower(),
            size=int(data.get("size") or 0),
            url=str(data.get("url_private_download") or data.get("url_private", "")),
        )

    def as_payload(self) -> dict[str, Any]:
        """Round-trips through ``from_payload`` (for a modal's private metadata)."""
        return {
            "id": self.id,
            "name": self.name,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "size": self.size,
            "url_private": self.url,
        }

    @property
    def looks_like_image(self) -> bool:
        return self.mimetype in _IMAGE_MIMETYPES or self.filetype in IMAGE_FILETYPES


def check_image_file(file: SlackFile) -> None:
    """Refuse, before downloading, what Slack already says is no usable image."""
    if not file.looks_like_image:
        raise UserInputError(
            f"`{file.name}` is not a JPEG, PNG or WebP image. "
            "Attach a .jpg, .png or .webp picture."
        )
    if file.size > MAX_IMAGE_BYTES:
        raise UserInputError(
            f"The image `{file.name}` is {file.size / (1024 * 1024):.1f} MB; "
            "reference images can be at most 10 MB. Attach a smaller one."
        )
    if not file.url:
        raise UserInputError(f"Slack did not say where to find `{file.name}`.")


def pick_image(files: Iterable[Mapping[str, Any]]) -> SlackFile | None:
    """The first file of a message that could be a reference image."""
    for data in files:
        file = SlackFile.from_payload(data)
        if file.looks_like_image or file.mimetype.startswith("image/"):
            return file
    return None


def _selected(values: Mapping[str, Any], block: str) -> str | None:
    state = values.get(block, {}).get("value", {})
    option = state.get("selected_option") or {}
    value = option.get("value")
    return str(value) if value is not None else None


@dataclass(frozen=True)
class GenerationForm:
    """A submitted ``/sora`` modal: the options and the attached file, if any."""

    options: CommandOptions
    file: SlackFile | None
    metadata: dict[str, Any]


def read_generation_view(view: Mapping[str, Any]) -> GenerationForm:
    """Read the modal built by ``blocks.generation_modal`` back into options."""
    values: Mapping[str, Any] = view.get("state", {}).get("values", {})
    prompt = values.get("prompt", {}).get("value", {}).get("value") or ""
    extras = values.get("extras", {}).get("value", {}).get("selected_options") or []
    chosen = {str(o.get("value")) for o in extras}
    seconds = _selected(values, "seconds")
    orientation = _selected(values, "orientation") or Orientation.LANDSCAPE.value
    metadata = read_metadata(view)
    files = values.get("image", {}).get("value", {}).get("files") or []
    file = SlackFile.from_payload(files[0]) if files else None
    if file is None and metadata.get("image"):
        file = SlackFile.from_payload(metadata["image"])
    options = CommandOptions(
        prompt=str(prompt).strip(),
        model=_selected(values, "model"),
        orientation=Orientation(orientation),
        seconds=int(seconds) if seconds and seconds.isdigit() else None,
        hd="hd" in chosen,
        private="private" in chosen,
        style=_selected(values, "style"),
    )
    return GenerationForm(options, file, metadata)


def read_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    raw = view.get("private_metadata") or "{}"
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_prompt(view: Mapping[str, Any]) -> str:
    values: Mapping[str, Any] = view.get("state", {}).get("values", {})
    return str(values.get("prompt", {}).get("value", {}).get("value") or "").strip()


def chosen_model(options: CommandOptions, offer: Offer, default_model: str) -> str:
    """The model named, else the pro one for ``--pro`` (only accepted where
    ``offer`` has one), else the default."""
    return options.model or (
        (offer.pro_model() or default_model) if options.pro else default_model
    )


def build_request(
    options: CommandOptions,
    *,
    offer: Offer,
    default_model: str,
    requester: Requester,
    chat: ChatRef,
    image: ImageInput | None = None,
) -> GenerationRequest:
    """The neutral request; the core validates the combination."""
    model = chosen_model(options, offer, default_model)
    seconds = options.seconds
    if seconds is None:
        seconds = offer.default_seconds(model)
    return GenerationRequest(
        prompt=options.prompt,
        model=model,
        orientation=options.orientation,
        seconds=seconds,
        hd=options.hd,
        private=options.private,
        style=options.style,
        image=image,
        requester=requester,
        chat=chat,
    )


def slack_chat(team_id: str, channel_id: str) -> ChatRef:
    return ChatRef(platform=Platform.SLACK, workspace_id=team_id, channel_id=channel_id)
