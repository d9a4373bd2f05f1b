"""The moderators' governance settings: their keys in the settings store, how the
values typed are checked, and how each is named to people.

All are per server (the settings table's workspace scope). Limits are stored as
text: a number, or ``none`` for "no limit here" (which overrides the operator's
default; clearing the setting falls back to it).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import UserInputError
from bot.governance._quota import Limit
from bot.models import Platform

LIMIT_KEYS: dict[Limit, str] = {
    Limit.USER_DAILY_VIDEOS: "user_daily_videos",
    Limit.SERVER_DAILY_VIDEOS: "server_daily_videos",
    Limit.SERVER_DAILY_BUDGET: "server_daily_budget",
    Limit.SERVER_MONTHLY_BUDGET: "server_monthly_budget",
}
WORDS = "blocked_words"
CHANNELS = "allowed_channels"
# Discord role ids, or Slack user and user-group ids.
MEMBERS = "allowed_members"
TIMEZONE = "timezone"

NO_LIMIT = "none"
_NO_LIMIT_WORDS = frozenset({"none", "off", "unlimited", "no-limit"})
MAX_VIDEOS = 1_000_000
MAX_BUDGET = Decimal(1_000_000_000)


def limit_label(limit: Limit, platform: Platform) -> str:
    server = "workspace" if platform is Platform.SLACK else "server"
    return {
        Limit.USER_DAILY_VIDEOS: "Videos per member per day",
        Limit.SERVER_DAILY_VIDEOS: f"Videos per {server} per day",
        Limit.SERVER_DAILY_BUDGET: "Budget per day",
        Limit.SERVER_MONTHLY_BUDGET: "Budget per month",
    }[limit]


def parse_limit(name: str) -> Limit:
    try:
        return Limit(name.strip().lower())
    except ValueError:
        names = ", ".join(f"`{limit.value}`" for limit in Limit)
        raise UserInputError(
            f"There is no limit called that. Use one of {names}."
        ) from None


def parse_limit_value(limit: Limit, text: str) -> str:
    """The value to store: a whole number of videos, an amount, or ``none``."""
    text = text.strip().lower()
    if text in _NO_LIMIT_WORDS:
        return NO_LIMIT
    if limit.money:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or not 0 <= amount <= MAX_BUDGET:
            raise UserInputError(
                "A budget is an amount like `5` or `12.50` (or `none` for no limit)."
            )
        return str(amount)
    if not text.isdigit() or int(text) > MAX_VIDEOS:
        raise UserInputError(
            "A video limit is a whole number like `5` (or `none` for no limit)."
        )
    return str(int(text))


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UserInputError(
            "That is not a time zone I know. Use a name like `Europe/Berlin`, "
            "`America/New_York` or `UTC`."
        ) from None
