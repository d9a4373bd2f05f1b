"""What every dialect shares: the HTTP view, its profile, and downloads by URL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.capabilities import CapabilityProfile, ModelCapability
from bot.errors import ConfigError, ProviderProtocolError
from bot.metrics import Metrics
from bot.models import GenerationRequest, TaskStatus, VideoResult
from bot.ports import Submission
from bot.providers._http import DEFAULT_FETCH, FetchRules, ProviderHTTP, decode


class Created(BaseModel):
    """A create answer: only the task id matters; every other field is ignored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    id: str = Field(min_length=1, validation_alias=AliasChoices("id", "task_id"))


class HTTPProvider(ABC):
    """Base of the dialect classes; each subclass is one ``VideoProvider``.

    ``parse_created`` and ``parse_status`` are pure static functions so they can be
    fed hostile JSON in tests without a server.

    The class's ``profile`` is what the dialect's document allows; an instance may
    get a narrower one (``bot.capabilities.narrowed``: the operator's models) and
    the operator's ``watermark`` choice (``None``: the profile's
    ``watermark_default``).
    """

    dialect: str
    profile: CapabilityProfile

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        fetch: FetchRules = DEFAULT_FETCH,
        name: str = "default",
        metrics: Metrics | None = None,
        profile: CapabilityProfile | None = None,
        create_timeout: float | None = None,
        watermark: bool | None = None,
    ) -> None:
        self.name = name
        self._http = ProviderHTTP(
            client,
            base_url,
            api_key,
            fetch,
            name=name,
            dialect=self.dialect,
            metrics=metrics,
            create_timeout=create_timeout,
        )
        if profile is not None:
            if profile.dialect != self.dialect:
                raise ConfigError(
                    f"A {profile.dialect} profile cannot describe the "
                    f"{self.dialect} dialect."
                )
            self.profile = profile
        if watermark is not None and not self.profile.watermark:
            raise ConfigError(
                f"The {self.dialect} dialect has no watermark setting; "
                "leave watermark unset for it."
            )
        self.watermark = (
            self.profile.watermark_default if watermark is None else watermark
        )

    @property
    def usable(self) -> bool:
        # One provider and no circuit breaker yet: usable unless unreachable.
        return self._http.meter.usable

    def model(self, request: GenerationRequest) -> ModelCapability:
        """The profile's entry for the request's model (validation checked it)."""
        spec = self.profile.model(request.model)
        if spec is None:
            raise ConfigError(
                f"The {self.dialect} video service has no model {request.model!r}."
            )
        return spec

    def output_size(self, request: GenerationRequest) -> tuple[int, int]:
        return self.profile.output_size(request)

    @abstractmethod
    async def create(self, submission: Submission) -> str: ...

    @abstractmethod
    async def query(self, provider_task_id: str) -> TaskStatus: ...

    @staticmethod
    def parse_created(answer: object) -> str:
        """The task id from the create answer; most dialects answer ``id``."""
        return created_id(answer)

    @staticmethod
    @abstractmethod
    def parse_status(body: object) -> TaskStatus: ...

    async def download(
        self, provider_task_id: str, status: TaskStatus, dest: Path
    ) -> VideoResult:
        if status.video_url is None:
            raise ProviderProtocolError(
                "The video service says the video is ready but gave no link to it."
            )
        return await self._http.download(status.video_url, dest)

    def image_urls(self, submission: Submission) -> list[str]:
        """The reference image as the one-element URL list URL dialects take."""
        image = submission.image
        if image is None:
            return []
        if image.url is None:
            raise ConfigError(
                f"The {self.dialect} video service takes reference images by URL, "
                "but this image has none; set PUBLIC_URL so the bot can host it."
            )
        return [image.url]

    def callback(self, submission: Submission) -> str | None:
        return submission.callback_url if self.profile.callbacks else None


def created_id(answer: object) -> str:
    """The task id from a create answer, or a protocol error saying it is missing."""
    return decode(Created, answer, "create answer").id


def path_id(provider_task_id: str) -> str:
    """A task id made safe for a URL path (ids like ``sora-2:task_…`` are opaque)."""
    return quote(provider_task_id, safe="")
