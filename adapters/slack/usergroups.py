"""Who is in a Slack user group, for the ``/sora-admin users allow @group`` gate.

``usergroups.users.list`` (scope ``usergroups:read``) answers one group at a time;
the answer is kept for five minutes, so a busy channel costs one call per allowed
group every five minutes, and a member added to a group may wait that long. A
group the bot cannot read (scope missing, group disabled) counts as empty and is
logged, so the gate stays closed rather than open.
"""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


class SlackUserGroups:
    """The ``GroupDirectory`` of one workspace's bot token."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, workspace_id: str, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._cache.get(group_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
            users = frozenset(str(u) for u in response.get("users") or ())
        except SlackApiError as error:
            log.warning(
                "cannot read user group %s (%s); add the usergroups:read scope",
                group_id,
                error.response.get("error"),
            )
            users = frozenset()
        self._cache[group_id] = (now + CACHE_SECONDS, users)
        return users
