"""``SORA_API_DIALECT`` picks one client from the registry, and every name works."""

from __future__ import annotations

import pytest

from bot.config import DIALECTS
from bot.errors import ConfigError
from bot.models import Orientation
from bot.providers import PROVIDERS, make_provider
from tests.providers.conftest import make_request


def test_every_configurable_dialect_has_a_client():
    assert sorted(PROVIDERS) == sorted(DIALECTS)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_make_provider_returns_the_named_dialect(dialect, client):
    provider = make_provider(
        dialect, base_url="http://relay.test", api_key=None, client=client
    )

    assert provider.dialect == dialect


def test_an_unknown_dialect_is_a_config_error_listing_the_known_ones(client):
    with pytest.raises(ConfigError, match="video-create") as caught:
        make_provider(
            "sora-v3", base_url="http://relay.test", api_key=None, client=client
        )

    assert "SORA_API_DIALECT" in str(caught.value)


@pytest.mark.parametrize(
    ("dialect", "hd", "seconds", "orientation", "size"),
    [
        ("openai", False, 10, Orientation.LANDSCAPE, (1280, 720)),
        ("openai", False, 10, Orientation.PORTRAIT, (720, 1280)),
        ("openai", True, 15, Orientation.PORTRAIT, (1024, 1792)),
        ("v2", True, 10, Orientation.LANDSCAPE, (1792, 1024)),
        ("v2", True, 25, Orientation.LANDSCAPE, (1280, 720)),
        ("sora", False, 15, Orientation.PORTRAIT, (720, 1280)),
    ],
)
def test_output_size_follows_orientation_and_hd(
    dialect, hd, seconds, orientation, size, client
):
    provider = make_provider(
        dialect, base_url="http://relay.test", api_key=None, client=client
    )
    request = make_request(
        model="sora-2-pro", hd=hd, seconds=seconds, orientation=orientation
    )

    assert provider.output_size(request) == size
