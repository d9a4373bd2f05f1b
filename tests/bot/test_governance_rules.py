"""The governance rules on their own: periods, sentences, prices, word matching."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UserInputError
from bot.governance import PriceEntry, price_of
from bot.governance._quota import (
    Limit,
    QuotaRefusal,
    first_exceeded,
    periods,
    refusal_sentence,
    to_micros,
)
from bot.governance._words import check_entry, compile_entries
from bot.ports import UsageTotals
from tests.fakes.tasks import make_request

UTC_ZONE = ZoneInfo("UTC")


def test_day_and_month_reset_at_utc_midnight_by_default() -> None:
    when = periods(datetime(2026, 12, 31, 20, 48, tzinfo=UTC), UTC_ZONE)

    assert when.day_start == datetime(2026, 12, 31, tzinfo=UTC)
    assert when.day_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert when.month_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert when.month_end == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_servers_time_zone_moves_its_midnight() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC on 1 June is already 2 June in Berlin (UTC+2).
    when = periods(datetime(2026, 6, 1, 23, 30, tzinfo=UTC), berlin)

    assert when.day_start.astimezone(UTC) == datetime(2026, 6, 1, 22, tzinfo=UTC)
    assert when.month_start.astimezone(UTC) == datetime(2026, 5, 31, 22, tzinfo=UTC)


def test_member_quota_sentence_names_usage_reset_and_wait() -> None:
    when = periods(datetime(2026, 3, 4, 20, 48, 30, tzinfo=UTC), UTC_ZONE)
    refusal = QuotaRefusal(Limit.USER_DAILY_VIDEOS, used=5, cap=5)

    sentence = refusal_sentence(
        refusal, cost=0, when=when, currency="USD", server="server"
    )

    assert sentence == (
        "You've made 5 of your 5 videos today; more after 00:00 UTC, in 3 h 11 min."
    )


def test_monthly_budget_sentence_names_spend_price_and_the_first_of_the_month() -> None:
    when = periods(datetime(2026, 3, 30, 12, 0, tzinfo=UTC), ZoneInfo("Europe/Paris"))
    refusal = QuotaRefusal(
        Limit.SERVER_MONTHLY_BUDGET, used=to_micros(Decimal("99.5")), cap=100_000_000
    )

    sentence = refusal_sentence(
        refusal,
        cost=to_micros(Decimal("0.75")),
        when=when,
        currency="EUR",
        server="workspace",
    )

    assert sentence == (
        "This workspace has spent 99.50 EUR of its 100.00 EUR budget this month and "
        "this video costs 0.75 EUR; more after 00:00 Europe/Paris on 1 April, "
        "in 1 d 10 h."
    )


def test_one_more_video_must_fit_every_cap() -> None:
    caps = {
        Limit.USER_DAILY_VIDEOS: 5,
        Limit.SERVER_DAILY_VIDEOS: None,
        Limit.SERVER_DAILY_BUDGET: to_micros(Decimal(2)),
        Limit.SERVER_MONTHLY_BUDGET: None,
    }
    half = to_micros(Decimal("0.5"))

    assert first_exceeded(caps, UsageTotals(user_day_videos=4), half) is None
    assert first_exceeded(caps, UsageTotals(user_day_videos=5), half) == QuotaRefusal(
        Limit.USER_DAILY_VIDEOS, 5, 5
    )
    spent = UsageTotals(server_day_micros=to_micros(Decimal("1.5")))
    assert first_exceeded(caps, spent, half) is None
    over = first_exceeded(caps, spent, half + 1)
    assert over is not None
    assert over.limit is Limit.SERVER_DAILY_BUDGET
    # Without a price table videos are free: a budget never refuses them.
    broke = UsageTotals(server_day_micros=to_micros(Decimal(2)))
    assert first_exceeded(caps, broke, 0) is None


def test_most_specific_price_entry_wins_and_missing_fields_match_all() -> None:
    table = (
        PriceEntry(price=Decimal("0.10")),
        PriceEntry(model="sora-2-pro", price=Decimal("1.00")),
        PriceEntry(model="sora-2-pro", hd=True, price=Decimal("2.50")),
        PriceEntry(provider="v2", model="sora-2-pro", price=Decimal("0.80")),
        PriceEntry(model="sora-2-pro", seconds=25, price=Decimal("3.00")),
    )

    def cost(provider: str = "openai", **fields: object) -> Decimal:
        return price_of(table, ("default", provider), make_request(**fields))

    assert cost() == Decimal("0.10")
    assert cost(model="sora-2-pro") == Decimal("1.00")
    assert cost(model="sora-2-pro", hd=True) == Decimal("2.50")
    assert cost("v2", model="sora-2-pro") == Decimal("0.80")
    # Equally specific: the first listed of the two wins.
    assert cost("v2", model="sora-2-pro", hd=True) == Decimal("2.50")
    assert price_of((), ("default", "openai"), make_request()) == 0
    named = (PriceEntry(provider="default", price=Decimal(3)),)
    assert price_of(named, ("default", "openai"), make_request()) == 3


@pytest.mark.parametrize(
    "prompt",
    [
        "a BAD dream",
        "a b\u200bad dream",
        "a ba\u00adD dream",
        "a bád dream",
        "a \uff42\uff41\uff44 dream",
        "evil\u00a0\u00a0 plan here",
        "EVIL\u2003plan",
        "ev\u2060il   PLAN",
        "a f00bar",
    ],
)
def test_hidden_blocked_words_are_found(prompt: str) -> None:
    matcher = compile_entries(["bad", "evil plan", r"re:f[o0]+bar"])

    assert matcher.find(prompt) is not None


@pytest.mark.parametrize(
    "prompt", ["a badger", "embadded", "evil planets", "a foo bar", "evil, plan"]
)
def test_plain_entries_match_whole_words_only(prompt: str) -> None:
    matcher = compile_entries(["bad", "evil plan", r"re:f[o0]+bar"])

    assert matcher.find(prompt) is None


def test_a_thousand_entries_compile_into_one_list_that_still_finds_each() -> None:
    words = [f"word{n}x" for n in range(1000)]
    matcher = compile_entries(words)

    assert matcher.find("the WORD517X here") == "word517x"
    assert matcher.find("word1000x word51") is None


def test_invalid_regular_expression_is_refused_with_the_error() -> None:
    with pytest.raises(
        UserInputError, match="not a valid regular expression: missing \\)"
    ):
        check_entry("re:(unclosed")
    assert check_entry("  re:ab+c ") == "re:ab+c"
