"""What every listener needs, built once by ``attach``."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from adapters.slack.admins import AdminCheck
from bot.config import Settings
from bot.service import VideoService


@dataclass(frozen=True)
class SlackDeps:
    """The core's service plus the Slack-side helpers the listeners share.

    ``session`` and ``token`` fetch private images (``url_private`` needs the bot
    token as a Bearer header); ``admins`` decides who may change settings.
    """

    service: VideoService
    settings: Settings
    session: aiohttp.ClientSession
    token: str
    admins: AdminCheck
