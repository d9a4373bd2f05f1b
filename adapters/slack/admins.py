"""Who may change the bot's settings: workspace admins and owners, plus a list.

Slack has no per-command permissions, so the bot asks ``users.info`` (scope
``users:read``) and keeps the answer for a minute: a burst of admin commands
should not become a burst of Web API calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

CACHE_SECONDS = 60.0


class AdminCheck:
    """Answers "may this user change settings?" for one workspace's bot token."""

    def __init__(self, client: AsyncWebClient, extra_admins: Iterable[str]) -> None:
        self._client = client
        self._extra = frozenset(extra_admins)
        self._cache: dict[str, tuple[float, bool]] = {}

    async def is_admin(self, user_id: str) -> bool:
        if user_id in self._extra:
            return True
        cached = self._cache.get(user_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        response = await self._client.users_info(user=user_id)
        user = response.get("user") or {}
        allowed = bool(
            user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")
        )
        self._cache[user_id] = (now + CACHE_SECONDS, allowed)
        return allowed
