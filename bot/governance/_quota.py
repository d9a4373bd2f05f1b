"""Quota periods and the refusal sentence: pure arithmetic, no I/O.

A server's day runs from 00:00 to 00:00 in its time zone (UTC unless a moderator
set one) and its month from the 1st at 00:00; the usage ledger is counted from
those instants. Money is handled in millionths of the currency (``micros``) so
that sums and comparisons are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.ports import UsageTotals

MICROS = Decimal(1_000_000)


class Limit(StrEnum):
    """The four limits, by the names moderators type."""

    USER_DAILY_VIDEOS = "user-daily-videos"
    SERVER_DAILY_VIDEOS = "server-daily-videos"
    SERVER_DAILY_BUDGET = "server-daily-budget"
    SERVER_MONTHLY_BUDGET = "server-monthly-budget"

    @property
    def money(self) -> bool:
        return self in (Limit.SERVER_DAILY_BUDGET, Limit.SERVER_MONTHLY_BUDGET)


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value(ROUND_HALF_UP))


def money(micros: int, currency: str) -> str:
    """``4.80 USD``: two decimals unless the amount needs more (0.125 USD)."""
    amount = (Decimal(micros) / MICROS).normalize()
    exponent = amount.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:.{places}f} {currency}"


@dataclass(frozen=True)
class Periods:
    """The current day and month of one server, as aware datetimes in its zone."""

    now: datetime
    zone: ZoneInfo
    day_start: datetime
    day_end: datetime
    month_start: datetime
    month_end: datetime


def periods(now: datetime, zone: ZoneInfo) -> Periods:
    local = now.astimezone(zone)
    day_start = datetime(local.year, local.month, local.day, tzinfo=zone)
    tomorrow = day_start.date() + timedelta(days=1)
    day_end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    month_start = datetime(local.year, local.month, 1, tzinfo=zone)
    year, month = divmod(local.month, 12)
    month_end = datetime(local.year + year, month + 1, 1, tzinfo=zone)
    return Periods(now, zone, day_start, day_end, month_start, month_end)


def zone_label(zone: ZoneInfo) -> str:
    return "UTC" if zone.key in ("UTC", "Etc/UTC") else zone.key


def wait_text(delta: timedelta) -> str:
    """``3 h 12 min``, ``12 d 3 h``, ``5 min`` (rounded down; never "0 min")."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def reset_text(limit: Limit, when: Periods) -> str:
    """``00:00 UTC, in 3 h 12 min`` (a month's reset also names the day)."""
    if limit is Limit.SERVER_MONTHLY_BUDGET:
        end = when.month_end
        day = f" on {end.day} {end.strftime('%B')}"
    else:
        end, day = when.day_end, ""
    wait = wait_text(end.astimezone(UTC) - when.now.astimezone(UTC))
    return f"00:00 {zone_label(when.zone)}{day}, in {wait}"


Caps = dict[Limit, int | None]


@dataclass(frozen=True)
class QuotaRefusal:
    """The first limit a new video would break, with the figures for the sentence."""

    limit: Limit
    used: int
    cap: int


def first_exceeded(caps: Caps, totals: UsageTotals, cost: int) -> QuotaRefusal | None:
    """The limit one more video (costing ``cost`` micros) would break, or None.

    Counts: one more must stay within the cap. Money: the spend plus this video's
    price must stay within the budget, so a free video (no price table) never
    breaks a budget.
    """
    used = {
        Limit.USER_DAILY_VIDEOS: totals.user_day_videos,
        Limit.SERVER_DAILY_VIDEOS: totals.server_day_videos,
        Limit.SERVER_DAILY_BUDGET: totals.server_day_micros,
        Limit.SERVER_MONTHLY_BUDGET: totals.server_month_micros,
    }
    for limit in Limit:
        cap = caps.get(limit)
        if cap is None:
            continue
        after = used[limit] + (cost if limit.money else 1)
        if after > cap:
            return QuotaRefusal(limit, used[limit], cap)
    return None


def _videos(count: int) -> str:
    return "video" if count == 1 else "videos"


def refusal_sentence(
    refusal: QuotaRefusal,
    *,
    cost: int,
    when: Periods,
    currency: str,
    server: str,
) -> str:
    """One sentence: which limit, the usage, and when it resets.

    ``server`` is what the platform calls a server ("server", "workspace").
    """
    used, cap, limit = refusal.used, refusal.cap, refusal.limit
    reset = reset_text(limit, when)
    if limit is Limit.USER_DAILY_VIDEOS:
        return (
            f"You've made {used} of your {cap} {_videos(cap)} today; "
            f"more after {reset}."
        )
    if limit is Limit.SERVER_DAILY_VIDEOS:
        return (
            f"This {server} has made {used} of its {cap} {_videos(cap)} today; "
            f"more after {reset}."
        )
    period = "this month" if limit is Limit.SERVER_MONTHLY_BUDGET else "today"
    return (
        f"This {server} has spent {money(used, currency)} of its "
        f"{money(cap, currency)} budget {period} and this video costs "
        f"{money(cost, currency)}; more after {reset}."
    )
