"""Settings the operator writes as text: the Discord shard list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from bot.config import Settings


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    return make_settings


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("", ()),
        ("1", (1,)),
        ("0,1", (0, 1)),
        ("0-3", (0, 1, 2, 3)),
        (" 8, 0-2 ,2", (0, 1, 2, 8)),
    ],
)
def test_shard_ids_read_lists_and_ranges(
    settings: Callable[..., Settings], text: str, ids: tuple[int, ...]
) -> None:
    assert settings(DISCORD_SHARD_IDS=text).discord_shard_ids == ids


@pytest.mark.parametrize("text", ["a", "1-", "3-1", "-1", "0;1", "1.5"])
def test_shard_ids_that_are_not_ids_or_ranges_are_refused(
    settings: Callable[..., Settings], text: str
) -> None:
    with pytest.raises(ValidationError, match="DISCORD_SHARD_IDS"):
        settings(DISCORD_SHARD_IDS=text)


def test_shard_ids_beyond_the_shard_count_are_refused(
    settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="names shard 2, but DISCORD_SHARD_COUNT"):
        settings(DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS="0-2")


def test_shard_count_must_be_at_least_one(settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="DISCORD_SHARD_COUNT"):
        settings(DISCORD_SHARD_COUNT="0")


def test_shards_default_to_discords_count_and_all_ids(
    settings: Callable[..., Settings],
) -> None:
    defaults = settings()

    assert (defaults.discord_shard_count, defaults.discord_shard_ids) == (None, ())
