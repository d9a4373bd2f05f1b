"""What every dialect shares: the HTTP view, output sizes and downloads by URL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.capabilities import CapabilityProfile
from bot.errors import ConfigError, ProviderProtocolError
from bot.metrics import Metrics
from bot.models import GenerationRequest, TaskStatus, VideoResult
from bot.ports import ProviderFeatures, Submission
from bot.providers import sizes
from bot.providers._http import DEFAULT_FETCH, FetchRules, ProviderHTTP, decode


class Created(BaseModel):
    """A create answer: only the task id matters; every other field is ignored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    id: str = Field(min_length=1, validation_alias=AliasChoices("id", "task_id"))


class HTTPProvider(ABC):
    """Base of the dialect classes; each subclass is one ``VideoProvider``.

    ``parse_created`` and ``parse_status`` are pure static functions so they can be
    fed hostile JSON in tests without a server.
    """

    dialect: str
    profile: CapabilityProfile
    features: ProviderFeatures

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
            # The operator's narrowed copy of the dialect's profile.
            self.profile = profile

    @property
    def usable(self) -> bool:
        # One provider and no circuit breaker yet: usable unless unreachable.
        return self._http.meter.usable

    def output_size(self, request: GenerationRequest) -> tuple[int, int]:
        return sizes.output_size(self.dialect, request)

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
        return submission.callback_url if self.features.callbacks else None


def created_id(answer: object) -> str:
    """The task id from a create answer, or a protocol error saying it is missing."""
    return decode(Created, answer, "create answer").id


def path_id(provider_task_id: str) -> str:
    """A task id made safe for a URL path (ids like ``sora-2:task_…`` are opaque)."""
    return quote(provider_task_id, safe="")
