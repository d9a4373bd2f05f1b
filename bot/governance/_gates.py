"""Where ``/sora`` works: allowed channels, Discord roles, Slack users and groups.

Empty lists mean open to all. The sentences name where it does work, as platform
mentions built from stored ids (never from free text), so adapters send them as
they are and the member can click through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.models import Platform

# Slack user-group ids start with S; user ids with U or W.
SLACK_GROUP_PREFIX = "S"
_SHOWN = 10


class GroupDirectory(Protocol):
    """Who is in a user group (Slack: ``usergroups.users.list``), for user gates."""

    async def members(self, workspace_id: str, group_id: str) -> frozenset[str]: ...


def server_word(platform: Platform) -> str:
    return "workspace" if platform is Platform.SLACK else "server"


def where(platform: Platform) -> str:
    """``on this server`` or ``in this workspace``."""
    if platform is Platform.SLACK:
        return "in this workspace"
    return f"on this {server_word(platform)}"


def channel_mention(channel_id: str) -> str:
    return f"<#{channel_id}>"


def member_mention(platform: Platform, member_id: str) -> str:
    """A Discord role, or a Slack user or user group."""
    if platform is Platform.DISCORD:
        return f"<@&{member_id}>"
    if member_id.startswith(SLACK_GROUP_PREFIX):
        return f"<!subteam^{member_id}>"
    return f"<@{member_id}>"


def listing(items: Sequence[str], word: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``; past ten, ``... and 3 more``."""
    shown = list(items[:_SHOWN])
    more = len(items) - len(shown)
    if more:
        return ", ".join(shown) + f" and {more} more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + f" {word} {shown[-1]}"


def channel_refusal(
    platform: Platform,
    channel_id: str,
    allowed: Sequence[str],
    parent_id: str | None = None,
) -> str | None:
    """``parent_id``: the channel of the thread ``channel_id`` is, if it is one."""
    if not allowed or channel_id in allowed or (parent_id and parent_id in allowed):
        return None
    channels = listing([channel_mention(c) for c in allowed])
    return f"Sorry, /sora works only in {channels} {where(platform)}."


def role_refusal(
    platform: Platform, roles: Sequence[str], allowed: Sequence[str]
) -> str | None:
    """Discord: the member needs one of the allowed roles."""
    if not allowed or set(roles) & set(allowed):
        return None
    names = listing([member_mention(platform, r) for r in allowed])
    role = "role" if len(allowed) == 1 else "roles"
    return (
        f"Sorry, /sora is only for members with the {names} {role} {where(platform)}."
    )


def user_refusal(platform: Platform, allowed: Sequence[str]) -> str:
    """Slack: the sentence for someone not listed and in none of the groups."""
    who = listing([member_mention(platform, m) for m in allowed])
    return f"Sorry, /sora is only open to {who} {where(platform)}."
