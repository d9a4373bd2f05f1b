"""What both backends' migrations agree on: a database never runs ahead of the code."""

from __future__ import annotations

from bot.errors import ConfigError


def check_known(version: int, known: int) -> None:
    """Refuse a database migrated by a newer sorabot: this one would misread it."""
    if version > known:
        raise ConfigError(
            f"The database is at schema version {version}, newer than this sorabot "
            f"knows ({known}). Upgrade sorabot or use another DATABASE_URL."
        )
