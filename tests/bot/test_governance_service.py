"""Quotas, budgets, refunds, blocked words and gates through a real runtime.

Requests come from a Discord-like platform (``RecordingChat``) so the
governance applies (the command line is the operator's own and is exempt); the
provider is the simulator over HTTP, the store a real SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.errors import UserInputError
from bot.governance import BLOCKED, Limit, RefusalReason, RefusedAttempt, SettingChange
from bot.models import Platform, Requester, TaskState
from bot.ports import Scope
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_request, settled

GUILD = Scope(platform=Platform.DISCORD, workspace_id="w1")
MOD = "mod-1"


def discord_request(prompt: str = "a corgi surfing", **fields: Any):  # type: ignore[no-untyped-def]
    return make_request(prompt, platform=Platform.DISCORD, **fields)


@pytest.fixture
def discord_runtime(make_runtime):  # type: ignore[no-untyped-def]
    async def make(**env: Any):  # type: ignore[no-untyped-def]
        return await make_runtime(chat=RecordingChat(platform=Platform.DISCORD), **env)

    return make


class RecordingAudit:
    def __init__(self) -> None:
        self.refusals: list[RefusedAttempt] = []
        self.changes: list[SettingChange] = []

    async def refused(self, attempt: RefusedAttempt) -> None:
        self.refusals.append(attempt)

    async def setting_changed(self, change: SettingChange) -> None:
        self.changes.append(change)


async def test_member_over_the_daily_quota_is_refused_and_nothing_is_sent(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(USER_DAILY_VIDEOS=2)
    for _ in range(2):
        await settled(runtime, (await runtime.service.submit(discord_request())).id)

    with pytest.raises(
        UserInputError,
        match=r"^You've made 2 of your 2 videos today; more after 00:00 UTC, in ",
    ):
        await runtime.service.submit(discord_request())
    other = await runtime.service.submit(discord_request(user="someone-else"))
    await settled(runtime, other.id)

    assert len(creates(simulator)) == 3
    assert len(await runtime.store.recent()) == 3


async def test_video_failed_by_moderation_after_90_percent_is_refunded(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(USER_DAILY_VIDEOS=1)

    failed = await runtime.service.submit(discord_request("a fight #moderation"))
    failed = await settled(runtime, failed.id)
    again = await runtime.service.submit(discord_request("a calm lake"))
    again = await settled(runtime, again.id)

    assert failed.failure is not None
    assert failed.failure.kind.startswith("moderation")
    assert again.result is not None
    assert len(creates(simulator)) == 2


async def test_refund_on_without_moderation_keeps_a_moderated_video_counted(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(USER_DAILY_VIDEOS=1, REFUND_ON="error,timeout")
    simulator.inject("moderation")

    await settled(runtime, (await runtime.service.submit(discord_request())).id)
    with pytest.raises(UserInputError, match="You've made 1 of your 1 video today"):
        await runtime.service.submit(discord_request())

    assert len(creates(simulator)) == 1


async def test_a_cancelled_video_is_refunded(discord_runtime, simulator) -> None:
    runtime = await discord_runtime(SERVER_DAILY_VIDEOS=1, SIMULATOR_DURATION=30)
    requester = Requester(user_id="u1")

    task = await runtime.service.submit(discord_request())
    await runtime.service.cancel(task.id, requester, moderator=False)
    again = await runtime.service.submit(discord_request())

    assert (await runtime.store.get(task.id)).state is TaskState.CANCELLED
    assert again.id != task.id


async def test_money_budget_with_a_price_table_refuses_the_video_that_would_overspend(
    discord_runtime, simulator
) -> None:
    prices = [
        {"price": "0.40"},
        {"model": "sora-2-pro", "price": "1.00"},
    ]
    runtime = await discord_runtime(
        SORA_PRICES=json.dumps(prices), SERVER_DAILY_BUDGET="1.20", CURRENCY="EUR"
    )
    await settled(runtime, (await runtime.service.submit(discord_request())).id)

    with pytest.raises(
        UserInputError,
        match=r"^This server has spent 0\.40 EUR of its 1\.20 EUR budget today and "
        r"this video costs 1\.00 EUR; more after 00:00 UTC, in ",
    ):
        await runtime.service.submit(discord_request(model="sora-2-pro"))
    for user in ("u2", "u3"):
        await settled(
            runtime, (await runtime.service.submit(discord_request(user=user))).id
        )
    with pytest.raises(UserInputError, match=r"spent 1\.20 EUR of its 1\.20 EUR"):
        await runtime.service.submit(discord_request(user="u4"))

    assert [r.body["model"] for r in creates(simulator)] == ["sora-2"] * 3


async def test_moderator_budget_overrides_the_operators_and_none_lifts_it(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(
        SORA_PRICES='[{"price": 1}]', SERVER_MONTHLY_BUDGET="100"
    )
    governance = runtime.service.governance
    said = await governance.set_limit(GUILD, Limit.SERVER_MONTHLY_BUDGET, "0.5", MOD)

    with pytest.raises(UserInputError, match="budget this month"):
        await runtime.service.submit(discord_request())
    await governance.set_limit(GUILD, Limit.SERVER_MONTHLY_BUDGET, "none", MOD)
    await settled(runtime, (await runtime.service.submit(discord_request())).id)
    cleared = await governance.set_limit(GUILD, Limit.SERVER_MONTHLY_BUDGET, None, MOD)

    assert said == "Budget per month on this server: 0.50 USD."
    assert cleared == (
        "Budget per month on this server: back to the operator's default (100.00 USD)."
    )
    assert len(creates(simulator)) == 1
    with pytest.raises(UserInputError, match="A budget is an amount"):
        await governance.set_limit(GUILD, Limit.SERVER_DAILY_BUDGET, "lots", MOD)


async def test_a_hundred_concurrent_submissions_create_exactly_the_server_cap(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(SERVER_DAILY_VIDEOS=10, USER_CONCURRENCY_LIMIT=100)

    outcomes = await asyncio.gather(
        *(runtime.service.submit(discord_request(user=f"m{n}")) for n in range(100)),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    for task in accepted:
        await settled(runtime, task.id)

    refusals = [o for o in outcomes if isinstance(o, UserInputError)]
    assert len(accepted) == 10
    assert len(refusals) == 90
    assert all("This server has made 10 of its 10 videos" in str(r) for r in refusals)
    assert len(creates(simulator)) == 10


@pytest.mark.parametrize(
    "prompt",
    ["a DRAGON at dawn", "a dr\u200bagon at dawn", "a drágon", "the \uff24ragon"],
)
async def test_blocked_word_sends_nothing_and_the_attempt_is_audited(
    discord_runtime, simulator, prompt: str
) -> None:
    runtime = await discord_runtime()
    audit = RecordingAudit()
    runtime.service.governance.audit = audit
    await runtime.service.governance.add_word(GUILD, "dragon", MOD)

    with pytest.raises(UserInputError) as refused:
        await runtime.service.submit(discord_request(prompt))

    assert str(refused.value) == BLOCKED
    assert "dragon" not in str(refused.value)
    assert simulator.requests == []
    assert await runtime.store.recent() == []
    [attempt] = audit.refusals
    assert (attempt.reason, attempt.detail) == (RefusalReason.BLOCKED_WORD, "dragon")
    [change] = audit.changes
    assert (change.key, change.before, change.after, change.by) == (
        "blocked_words",
        None,
        '["dragon"]',
        MOD,
    )


async def test_operators_global_blocked_words_apply_everywhere(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(BLOCKED_WORDS="gore, re:blood\\w*")

    for prompt in ("some GORE", "bloodbath"):
        with pytest.raises(UserInputError, match="isn't allowed here"):
            await runtime.service.submit(discord_request(prompt))

    assert simulator.requests == []


async def test_a_member_outside_the_allowed_channels_is_told_where_it_works(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime()
    governance = runtime.service.governance
    await governance.allow_channel(GUILD, "c7", MOD)
    said = await governance.allow_channel(GUILD, "c9", MOD)

    with pytest.raises(UserInputError) as refused:
        await runtime.service.submit(discord_request(channel="c1"))
    await settled(
        runtime, (await runtime.service.submit(discord_request(channel="c9"))).id
    )

    assert (
        str(refused.value)
        == "Sorry, /sora works only in <#c7> or <#c9> on this server."
    )
    assert refused.value.has_mentions
    assert said == "/sora now works only in <#c7> and <#c9> on this server."
    assert len(creates(simulator)) == 1


async def test_a_member_without_an_allowed_role_is_refused(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime()
    await runtime.service.governance.allow_members(GUILD, ["r1"], MOD)
    outsider = Requester(user_id="u1", roles=("r5",))
    member = Requester(user_id="u2", roles=("r5", "r1"))

    with pytest.raises(UserInputError, match=r"only for members with the <@&r1> role"):
        await runtime.service.submit(discord_request(requester=outsider))
    await settled(
        runtime, (await runtime.service.submit(discord_request(requester=member))).id
    )

    assert len(creates(simulator)) == 1


async def test_invalid_regular_expression_entry_is_refused_when_added(
    discord_runtime,
) -> None:
    runtime = await discord_runtime()

    with pytest.raises(UserInputError, match="not a valid regular expression"):
        await runtime.service.governance.add_word(GUILD, "re:[a-", MOD)

    assert "No blocked words" in await runtime.service.governance.list_words(GUILD)


async def test_a_servers_time_zone_is_named_in_the_refusal(
    discord_runtime, simulator
) -> None:
    runtime = await discord_runtime(SERVER_DAILY_VIDEOS=0)
    said = await runtime.service.governance.set_timezone(GUILD, "Asia/Tokyo", MOD)

    with pytest.raises(UserInputError, match="more after 00:00 Asia/Tokyo, in "):
        await runtime.service.submit(discord_request())

    assert said == "Days and months on this server now start at 00:00 Asia/Tokyo."
    assert simulator.requests == []
    with pytest.raises(UserInputError, match="not a time zone I know"):
        await runtime.service.governance.set_timezone(GUILD, "Mars/Olympus", MOD)
