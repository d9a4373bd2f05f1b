"""Retry, Remix and Cancel: clicks through the fake gateway, also after a restart."""

from __future__ import annotations

import pytest

from tests.adapters.discord_harness import (
    bot_settings,
    button,
    eventually,
    progress_of,
    reply_text,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import MODERATOR_PERMISSIONS, FakeDiscord, FakeMessage

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e


async def finished_job(
    fake: FakeDiscord, number: int
) -> tuple[FakeMessage, FakeMessage]:
    """The ``number``-th status message (1-based) and its result post."""
    statuses = await wait_for_status(fake, number)
    status = statuses[number - 1]
    thread_id = await thread_of(fake, status)
    [result] = await wait_for_thread_post(fake, thread_id)
    return status, result


async def test_retry_runs_the_same_settings_again_for_whoever_clicked(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash(
            "sora", {"prompt": "a red kite", "orientation": "portrait"}
        )
        _, result = await finished_job(fake, 1)
        click = await fake.click(result.id, button(result, "retry"), user="bob")
        again, _ = await finished_job(fake, 2)

    first, second = simulator.requests
    assert second.body == first.body
    assert "Started" in reply_text(click)
    assert click.ephemeral
    bob = fake.user("bob")["id"]
    assert f"<@{bob}>" in str(again.embeds[0]["fields"])


async def test_remix_asks_for_a_new_prompt_and_keeps_the_settings(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "a red kite", "duration": 15})
        _, result = await finished_job(fake, 1)
        click = await fake.click(result.id, button(result, "remix"))
        await click.wait_acked()
        assert click.modal is not None
        assert "a red kite" in str(click.modal["components"])
        form = await fake.submit_modal(
            click.modal["custom_id"], {"sora:remix-prompt": "a blue kite at night"}
        )
        remixed, _ = await finished_job(fake, 2)

    first, second = simulator.requests
    assert second.body["prompt"] == "a blue kite at night"
    assert {k: v for k, v in second.body.items() if k != "prompt"} == {
        k: v for k, v in first.body.items() if k != "prompt"
    }
    assert "Started" in reply_text(form)
    assert remixed.embeds[0]["description"] == "a blue kite at night"


async def test_requester_cancels_a_running_job_and_no_video_follows(
    fake: FakeDiscord, slow_env, slow_simulator
):
    async with running_bot(bot_settings(slow_env), fake):
        await fake.send_slash("sora", {"prompt": "a very slow sunrise"})
        [status] = await wait_for_status(fake)
        await eventually(lambda: slow_simulator.requests)
        click = await fake.click(status.id, button(status, "cancel"))
        await fake.wait_until(lambda: "Cancelled." in reply_text(click))
        await fake.wait_until(
            lambda: status.edits and "Cancelled" in progress_of(status.edits[-1])
        )
        queries = dict(slow_simulator.queries)

    assert status.edits[-1]["components"] == []
    assert fake.messages(status.thread_id) == []
    assert dict(slow_simulator.queries) == queries


async def test_only_the_requester_or_a_moderator_can_cancel(
    fake: FakeDiscord, slow_env, slow_simulator
):
    async with running_bot(bot_settings(slow_env), fake):
        await fake.send_slash("sora", {"prompt": "a very slow sunrise"})
        [status] = await wait_for_status(fake)
        stranger = await fake.click(status.id, button(status, "cancel"), user="mallory")
        await fake.wait_until(lambda: "Only the person" in reply_text(stranger))
        moderator = await fake.click(
            status.id,
            button(status, "cancel"),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(lambda: "Cancelled." in reply_text(moderator))

    assert stranger.ephemeral


async def test_buttons_still_work_after_the_bot_restarts(
    fake: FakeDiscord, env, simulator
):
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "a paper boat"})
        _, result = await finished_job(fake, 1)

    async with running_bot(bot_settings(env), fake):
        await fake.click(result.id, button(result, "retry"))
        await finished_job(fake, 2)
        click = await fake.click(result.id, button(result, "remix"))
        await click.wait_acked()
        assert click.modal is not None
        await fake.submit_modal(
            click.modal["custom_id"], {"sora:remix-prompt": "a paper plane"}
        )
        await finished_job(fake, 3)

    assert [r.body["prompt"] for r in simulator.requests] == [
        "a paper boat",
        "a paper boat",
        "a paper plane",
    ]


async def test_cancel_works_on_a_job_started_before_a_restart(
    fake: FakeDiscord, slow_env, slow_simulator
):
    async with running_bot(bot_settings(slow_env), fake):
        await fake.send_slash("sora", {"prompt": "a very slow sunrise"})
        [status] = await wait_for_status(fake)
        await eventually(lambda: slow_simulator.requests)

    async with running_bot(bot_settings(slow_env), fake):
        click = await fake.click(status.id, button(status, "cancel"))
        await fake.wait_until(lambda: "Cancelled." in reply_text(click))
        await fake.wait_until(
            lambda: status.edits and "Cancelled" in progress_of(status.edits[-1])
        )

    assert len(slow_simulator.requests) == 1
