"""The invite link: both scopes, and exactly the permissions the bot needs.

``sorabot invite`` prints it and the adapter logs it once at start, so an operator
never ticks boxes in the Developer Portal's URL generator by hand. The link needs
the application id: ``DISCORD_APPLICATION_ID`` when set, else the bot user id that
every bot token starts with (base64; the same as the application id for any app
made since 2020), else Discord is asked with the token.
"""

from __future__ import annotations

import base64
import binascii

import aiohttp
import discord

from bot.config import Settings
from bot.errors import ConfigError
from bot.proxies import Proxies, routed_session

# The README's table, permission by permission (309237763072).
PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the channel a command came from
    send_messages=True,  # the public status message
    send_messages_in_threads=True,  # progress, the video and errors in its thread
    create_public_threads=True,  # one thread per video, on its status message
    embed_links=True,  # the status message is an embed
    attach_files=True,  # the MP4 is uploaded into the thread
    read_message_history=True,  # its own earlier messages in its threads
)
# ``bot`` joins the server; ``applications.commands`` lets it offer /sora there.
SCOPES = ("bot", "applications.commands")
LOOKUP_TIMEOUT = aiohttp.ClientTimeout(total=15)

WHERE_THE_ID_IS = "on the Developer Portal's General Information page"
NO_APPLICATION = (
    "the invite link needs the application id: set DISCORD_APPLICATION_ID "
    f"({WHERE_THE_ID_IS}) or DISCORD_TOKEN."
)


def invite_url(application_id: int) -> str:
    """The OAuth2 link that adds the bot to a server the opener picks."""
    return discord.utils.oauth_url(
        application_id, permissions=PERMISSIONS, scopes=SCOPES
    )


def application_id_from_token(token: str) -> int | None:
    """The bot user id a token's first segment encodes, if it encodes one."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (binascii.Error, ValueError):
        return None
    text = decoded.decode("ascii", errors="replace")
    return int(text) if text.isdigit() else None


async def application_id(settings: Settings) -> int:
    """The application id from the settings, the token, or Discord (in that order).

    Raises ``ConfigError`` with what to set when none of them gives one.
    """
    if settings.discord_application_id is not None:
        return settings.discord_application_id
    if settings.discord_token is None:
        raise ConfigError(NO_APPLICATION)
    token = settings.discord_token.get_secret_value()
    return application_id_from_token(token) or await _ask_discord(settings, token)


async def _ask_discord(settings: Settings, token: str) -> int:
    base = (settings.discord_api_url or discord.http.Route.BASE).rstrip("/")
    headers = {"Authorization": f"Bot {token}"}
    try:
        async with (
            routed_session(Proxies()) as session,
            session.get(
                f"{base}/oauth2/applications/@me",
                headers=headers,
                timeout=LOOKUP_TIMEOUT,
            ) as response,
        ):
            if response.status in (401, 403):
                raise ConfigError("Discord refused DISCORD_TOKEN; check the token.")
            response.raise_for_status()
            found = (await response.json()).get("id")
    except (aiohttp.ClientError, TimeoutError, ValueError):
        raise ConfigError(
            "could not ask Discord for the application id: set "
            f"DISCORD_APPLICATION_ID ({WHERE_THE_ID_IS})."
        ) from None
    if not str(found).isdigit():
        raise ConfigError(
            "Discord gave no application id: set "
            f"DISCORD_APPLICATION_ID ({WHERE_THE_ID_IS})."
        )
    return int(found)
