"""Provider dialects behind the one ``VideoProvider`` port, chosen by name.

A new dialect is one new module with an ``HTTPProvider`` subclass (its wire format
and its ``CapabilityProfile``) plus one entry in ``PROVIDERS``; nothing else in the
bot branches on the dialect.
"""

from __future__ import annotations

import httpx

from bot.capabilities import CapabilityProfile
from bot.errors import ConfigError
from bot.metrics import Metrics
from bot.ports import VideoProvider
from bot.providers._base import HTTPProvider
from bot.providers._http import DEFAULT_FETCH, FetchRules
from bot.providers.openai import OpenAIProvider
from bot.providers.sora import SoraProvider
from bot.providers.unified import UnifiedProvider
from bot.providers.v2 import V2Provider
from bot.providers.video_create import VideoCreateProvider

__all__ = [
    "PROVIDERS",
    "FetchRules",
    "HTTPProvider",
    "dialect_profile",
    "make_provider",
]

PROVIDERS: dict[str, type[HTTPProvider]] = {
    cls.dialect: cls
    for cls in (
        V2Provider,
        SoraProvider,
        UnifiedProvider,
        OpenAIProvider,
        VideoCreateProvider,
    )
}


def _dialect(dialect: str) -> type[HTTPProvider]:
    cls = PROVIDERS.get(dialect)
    if cls is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(
            f"SORA_API_DIALECT={dialect!r} is not a dialect this bot speaks; "
            f"use one of {known}."
        )
    return cls


def dialect_profile(dialect: str) -> CapabilityProfile:
    """What ``dialect``'s document allows. Raises ``ConfigError`` if unknown."""
    return _dialect(dialect).profile


def make_provider(
    dialect: str,
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
) -> VideoProvider:
    """The client for ``dialect`` (``SORA_API_DIALECT``) over the shared ``client``;
    ``fetch`` says how its video links are downloaded (size cap, resolver), and its
    requests are recorded as provider ``name`` in ``metrics``.

    ``profile`` is the dialect's narrowed for this provider (``narrowed``; default
    the document's), ``watermark`` the operator's choice (``None``: the profile's
    ``watermark_default``) and ``create_timeout`` bounds each create's wait for an
    answer. Raises ``ConfigError`` naming the known dialects when ``dialect`` is
    not one, or for a watermark it has no field for.
    """
    return _dialect(dialect)(
        base_url=base_url,
        api_key=api_key,
        client=client,
        fetch=fetch,
        name=name,
        metrics=metrics,
        profile=profile,
        create_timeout=create_timeout,
        watermark=watermark,
    )
