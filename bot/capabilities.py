"""What one configured provider can do: its capability profile, the single truth.

Each dialect module declares the profile its document allows (models and the lengths
each takes, where HD has an effect, output sizes, private, watermark control,
styles, remix, how the reference image travels, callbacks). An operator may narrow
or rename it per configured provider (relays rename models). Validation, the chat
commands' choices, the CLI's help, the status text and the moderators' commands all
read profiles, so nothing is offered that no configured provider can do, and
nothing is claimed that is not sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.errors import ConfigError
from bot.models import GenerationRequest, Orientation

Size = tuple[int, int]


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

    @model_validator(mode="before")
    @classmethod
    def _legacy_hd(cls, data: Any) -> Any:
        """``SORA_MODELS`` entries once said ``"hd": true``: HD at every length
        (``narrowed`` then keeps only the lengths where the dialect has HD)."""
        if isinstance(data, dict) and "hd" in data:
            data = dict(data)
            if data.pop("hd") and "hd_seconds" not in data:
                data["hd_seconds"] = data.get("seconds", ())
        return data

    @property
    def wire_name(self) -> str:
        """The value of the provider's model field for this model."""
        return self.sent_as or self.name

    @property
    def hd(self) -> bool:
        return bool(self.hd_seconds)


class _Models(BaseModel):
    """A list of models and what can be asked of it by name or length."""

    model_config = ConfigDict(frozen=True)

    models: tuple[ModelCapability, ...] = Field(min_length=1)

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


class CapabilityProfile(_Models):
    """Everything a provider's document allows, in one place per dialect.

    ``size`` is the landscape output (portrait swaps it) and ``hd_size`` the HD one
    where the dialect has HD; ``watermark`` says the dialect has a watermark field
    and ``watermark_default`` what the bot sends there when the operator chose
    nothing; ``remix`` is True where the document has its own remix of a finished
    video.
    """

    dialect: str
    size: Size = (1280, 720)
    hd_size: Size | None = None
    private: bool = False
    watermark: bool = False
    watermark_default: bool = False
    styles: tuple[str, ...] = ()
    storyboard: bool = False
    remix: bool = False
    image_transport: Literal["upload", "url"] = "url"
    image_must_match_size: bool = False
    callbacks: bool = False
    # The relay refuses the whole create when the callback URL is not https.
    https_callbacks_only: bool = False

    @model_validator(mode="after")
    def _hd_needs_a_size(self) -> CapabilityProfile:
        if self.hd_size is None and any(m.hd for m in self.models):
            raise ValueError(f"{self.dialect}: HD lengths without an HD size")
        return self

    def hd_applies(self, request: GenerationRequest) -> bool:
        """Whether the provider renders ``request`` in HD (asked for, and the model
        has an effect at that length)."""
        spec = self.model(request.model)
        return request.hd and spec is not None and request.seconds in spec.hd_seconds

    def output_size(self, request: GenerationRequest) -> Size:
        """(width, height) the provider renders for ``request``."""
        width, height = (
            self.hd_size
            if self.hd_applies(request) and self.hd_size is not None
            else self.size
        )
        if request.orientation is Orientation.PORTRAIT:
            return height, width
        return width, height

    def refusal(self, request: GenerationRequest) -> str | None:
        """Why this provider cannot make ``request``, in one sentence naming what
        works; ``None`` when it can."""
        spec = self.model(request.model)
        if spec is None:
            return (
                f"Unknown model `{request.model}`. Choose {either(self.model_names)}."
            )
        if request.seconds not in spec.seconds:
            others = [m.name for m in self.models if request.seconds in m.seconds]
            if others:
                return f"{request.seconds}-second videos need {either(others)}."
            return (
                f"{spec.name} makes {either(map(str, spec.seconds))}-second videos, "
                f"not {request.seconds}."
            )
        if request.hd and not self.hd_applies(request):
            if spec.hd:
                return (
                    f"HD has no effect at {request.seconds} s with {spec.name}; "
                    f"it works at {either(map(str, spec.hd_seconds))} s."
                )
            with_hd = [m.name for m in self.models if request.seconds in m.hd_seconds]
            if with_hd:
                return f"HD videos need {either(with_hd)}."
            return "This video service does not make HD videos."
        if request.style is not None and request.style not in self.styles:
            if self.styles:
                return (
                    f"Unknown style `{request.style}`. "
                    f"Choose {either(f'`{s}`' for s in self.styles)}."
                )
            return "This video service has no styles."
        if request.private and not self.private:
            return (
                "This video service cannot keep videos unpublished, so private "
                "videos are not available here."
            )
        if request.remix_of is not None and not self.remix:
            return "This video service cannot remix a finished video."
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


def narrowed(
    profile: CapabilityProfile, models: Sequence[ModelCapability] | None
) -> CapabilityProfile:
    """``profile`` limited to the operator's ``models`` (``None``: all of them).

    Each operator model names a dialect model by ``sent_as`` (a relay's rename)
    or else by ``name``; its lengths and HD lengths are cut to what the dialect's
    model takes, and members see its ``name`` while ``sent_as`` goes on the wire.

    Raises:
        ConfigError: a model the dialect does not have, or one left with no length.
    """
    if models is None:
        return profile
    if not models:
        raise ConfigError("The model list is empty; leave it unset for all models.")
    kept: list[ModelCapability] = []
    for wanted in models:
        base = profile.model(wanted.wire_name) or profile.model(wanted.name)
        if base is None:
            raise ConfigError(
                f"The {profile.dialect} dialect has no model "
                f"{wanted.wire_name!r}; it has {either(profile.model_names)}. A "
                'relay\'s own name goes in "sent_as", e.g. {"name": '
                f'"{profile.models[0].name}", "sent_as": "{wanted.wire_name}"}}.'
            )
        seconds = tuple(s for s in wanted.seconds if s in base.seconds)
        if not seconds:
            raise ConfigError(
                f"{wanted.name} on the {profile.dialect} dialect takes "
                f"{either(map(str, base.seconds))} seconds, none of those listed."
            )
        hd_seconds = tuple(
            s for s in wanted.hd_seconds if s in base.hd_seconds and s in seconds
        )
        renamed = base.wire_name if base.wire_name != wanted.name else None
        kept.append(
            ModelCapability(
                name=wanted.name,
                sent_as=wanted.sent_as or renamed,
                seconds=seconds,
                hd_seconds=hd_seconds,
            )
        )
    return profile.model_copy(update={"models": tuple(kept)})


class Offer(_Models):
    """What the configured providers can do between them: the choices members get.

    A model offered by several providers takes every length (and HD length) any
    of them takes; validation then finds the provider that can do the whole
    request.
    """

    styles: tuple[str, ...] = ()
    private: bool = False
    remix: bool = False

    @classmethod
    def of(cls, profiles: Sequence[CapabilityProfile]) -> Offer:
        merged: dict[str, ModelCapability] = {}
        for profile in profiles:
            for model in profile.models:
                known = merged.get(model.name)
                if known is None:
                    merged[model.name] = model.model_copy(update={"sent_as": None})
                    continue
                merged[model.name] = known.model_copy(
                    update={
                        "seconds": _union(known.seconds, model.seconds),
                        "hd_seconds": _union(known.hd_seconds, model.hd_seconds),
                    }
                )
        return cls(
            models=tuple(merged.values()),
            styles=tuple(dict.fromkeys(s for p in profiles for s in p.styles)),
            private=any(p.private for p in profiles),
            remix=any(p.remix for p in profiles),
        )

    def default_seconds(self, model: str) -> int:
        """The shortest length ``model`` takes (the cheapest video)."""
        spec = self.model(model)
        return (spec.seconds if spec is not None else self.seconds)[0]

    def pro_model(self) -> str | None:
        """The model ``--pro`` means: the first with a ``-pro`` name, if any."""
        return next((m.name for m in self.models if m.name.endswith("-pro")), None)


def default_model(offer: Offer, chosen: str | None) -> str:
    """``SORA_MODEL`` if set (it must be offered), else the first offered model.

    Raises:
        ConfigError: ``SORA_MODEL`` names a model no configured provider has.
    """
    if chosen is None:
        return offer.models[0].name
    if offer.model(chosen) is None:
        raise ConfigError(
            f"SORA_MODEL={chosen!r} is not a model of the configured provider; "
            f"use {either(offer.model_names)} or leave it unset."
        )
    return chosen


def _union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted({*a, *b}))


def either(items: Iterable[str]) -> str:
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
# 720p for everyone; Sora 2 Pro's HD is 1792x1024 (OpenAI's ``size`` enum), which
# the v2 ``hd`` flag and video-create's ``size: large`` select too.
SD_SIZE: Size = (1280, 720)
HD_SIZE: Size = (1792, 1024)
