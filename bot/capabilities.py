"""What one configured provider can do: its capability profile, the single truth.

Each dialect module declares the profile its document allows (models and the lengths
each takes, where HD has an effect, private, watermark control, styles, remix, how
the reference image travels, callbacks). An operator may narrow or rename it per
configured provider (relays rename models). Validation, the chat commands' choices,
the CLI's help, the status text and the moderators' commands all read profiles, so
nothing is offered that no configured provider can do, and nothing is claimed that
is not sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.models import GenerationRequest


class ModelCapability(BaseModel):
    """One model as the member sees it, and what the provider takes for it.

    ``sent_as`` is the provider's own name when a relay renamed the model (members
    keep seeing ``name``); ``hd_seconds`` lists the lengths at which HD has an
    effect, empty when the model has no HD.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    sent_as: str | None = None
    seconds: tuple[int, ...] = Field(min_length=1)
    hd_seconds: tuple[int, ...] = ()

    @property
    def wire_name(self) -> str:
        """The value of the provider's model field for this model."""
        return self.sent_as or self.name

    @property
    def hd(self) -> bool:
        return bool(self.hd_seconds)


class CapabilityProfile(BaseModel):
    """Everything a provider's document allows, in one place per dialect.

    ``model_field`` is False where the dialect has no way to choose among the
    models (the member's choice would not be sent, so none is offered);
    ``remix`` is True where the document has its own remix of a finished video.
    """

    model_config = ConfigDict(frozen=True)

    dialect: str
    models: tuple[ModelCapability, ...] = Field(min_length=1)
    model_field: bool = True
    private: bool = False
    watermark: bool = False
    styles: tuple[str, ...] = ()
    storyboard: bool = False
    remix: bool = False
    image_transport: Literal["upload", "url"] = "url"
    image_must_match_size: bool = False
    callbacks: bool = False
    # The relay refuses the whole create when the callback URL is not https.
    https_callbacks_only: bool = False

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    @property
    def seconds(self) -> tuple[int, ...]:
        """Every length some model takes, shortest first."""
        return tuple(sorted({s for m in self.models for s in m.seconds}))

    @property
    def hd(self) -> bool:
        return any(m.hd for m in self.models)

    def model(self, name: str) -> ModelCapability | None:
        return next((m for m in self.models if m.name == name), None)

    def refusal(self, request: GenerationRequest) -> str | None:
        """Why this provider cannot make ``request``, in one sentence naming what
        works; ``None`` when it can."""
        spec = self.model(request.model)
        if spec is None:
            return (
                f"Unknown model `{request.model}`. Choose {_either(self.model_names)}."
            )
        if request.seconds not in spec.seconds:
            others = [m.name for m in self.models if request.seconds in m.seconds]
            if others:
                return f"{request.seconds}-second videos need {_either(others)}."
            return (
                f"{spec.name} makes {_either(map(str, spec.seconds))}-second videos, "
                f"not {request.seconds}."
            )
        if request.hd and request.seconds not in spec.hd_seconds:
            if spec.hd:
                return (
                    f"HD has no effect at {request.seconds} s with {spec.name}; "
                    f"it works at {_either(map(str, spec.hd_seconds))} s."
                )
            with_hd = [m.name for m in self.models if request.seconds in m.hd_seconds]
            if with_hd:
                return f"HD videos need {_either(with_hd)}."
            return "This video service does not make HD videos."
        if request.style is not None and request.style not in self.styles:
            if self.styles:
                return (
                    f"Unknown style `{request.style}`. "
                    f"Choose {_either(f'`{s}`' for s in self.styles)}."
                )
            return "This video service has no styles."
        if request.private and not self.private:
            return "This video service cannot keep videos unpublished (private)."
        return None


def first_refusal(
    profiles: Sequence[CapabilityProfile], request: GenerationRequest
) -> str | None:
    """``None`` if some profile can make ``request``; else the first one's reason.

    Profiles come in priority order, so the reason names what the operator's main
    provider would take.
    """
    reasons = [p.refusal(request) for p in profiles]
    if not reasons or any(r is None for r in reasons):
        return None
    return reasons[0]


def _either(items: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    parts = list(items)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" or {parts[-1]}"


# The two models of documents 000 and 004: "Only sora-2-pro supports hd and 25 s;
# at 25 s hd has no effect."
SORA_2 = ModelCapability(name="sora-2", seconds=(10, 15))
SORA_2_PRO = ModelCapability(
    name="sora-2-pro", seconds=(10, 15, 25), hd_seconds=(10, 15)
)


def narrowed(
    profile: CapabilityProfile, models: Sequence[ModelCapability] | None
) -> CapabilityProfile:
    """``profile`` with the operator's own model list (a relay's renames), if any."""
    if not models:
        return profile
    return profile.model_copy(update={"models": tuple(models)})
