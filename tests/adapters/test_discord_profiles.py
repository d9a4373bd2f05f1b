"""Discord offers and claims only what the configured provider's profile allows.

Per dialect, against the fake Discord and the simulator: the ``/sora`` command as
registered, private mode as a moderator switches it on, and what Remix does.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.capabilities import ModelCapability
from bot.rendering import PRIVATE_MODE_NOTE
from tests.adapters.discord_harness import (
    bot_env,
    bot_settings,
    custom_ids,
    eventually,
    reply_text,
    running_bot,
    thread_of,
    wait_for_status,
    wait_for_thread_post,
)
from tests.fakes.discord import (
    MODERATOR_PERMISSIONS,
    FakeDiscord,
    FakeInteraction,
    FakeMessage,
)

pytest_plugins = ["tests.adapters.discord_fixtures"]

pytestmark = pytest.mark.e2e

BOTH = ["sora-2", "sora-2-pro"]
# dialect -> (models, durations, HD option?, styles or None)
SORA_OPTIONS: dict[str, tuple[list[str], list[int], bool, list[str] | None]] = {
    "v2": (BOTH, [10, 15, 25], True, None),
    "sora": (["turbo"], [5, 10], False, ["natural"]),
    "unified": (BOTH, [10, 15], False, None),
    "openai": (BOTH, [10, 15], True, None),
    "video-create": (
        BOTH,
        [10, 15, 25],
        True,
        ["thanksgiving", "comic", "news", "selfie", "nostalgic", "anime"],
    ),
}
PRIVATE_DIALECTS = ["v2", "video-create"]


def choices(option: dict[str, Any]) -> list[Any]:
    return [c["value"] for c in option.get("choices", [])]


def private_mode_on() -> list[dict[str, Any]]:
    options = [{"name": "mode", "type": 3, "value": "on"}]
    return [{"name": "private-mode", "type": 1, "options": options}]


def labels(message: FakeMessage) -> dict[str, str]:
    """custom id kind (retry, remix, ...) -> the button's label."""
    return {
        c["custom_id"].split(":")[1]: c["label"]
        for row in message.components
        for c in row.get("components", [])
        if "custom_id" in c
    }


async def finished_job(
    fake: FakeDiscord, number: int
) -> tuple[FakeMessage, FakeMessage]:
    status = (await wait_for_status(fake, number))[number - 1]
    [result] = await wait_for_thread_post(fake, await thread_of(fake, status))
    return status, result


async def click_remix(fake: FakeDiscord, result: FakeMessage) -> FakeInteraction:
    """Press the Remix button under a video; the interaction once answered."""
    remix_id = next(c for c in custom_ids(result) if c.startswith("sora:remix:"))
    click = await fake.click(result.id, remix_id)
    await click.wait_acked()
    return click


@pytest.mark.parametrize("dialect", sorted(SORA_OPTIONS))
async def test_sora_registers_only_choices_the_provider_supports(
    dialect, tmp_path, fake: FakeDiscord, simulator
):
    models, durations, hd, styles = SORA_OPTIONS[dialect]

    async with running_bot(
        bot_settings(bot_env(tmp_path, fake, simulator, dialect)), fake
    ):
        command = fake.command("sora")

    assert command is not None
    options = {o["name"]: o for o in command["options"]}
    expected = ["prompt", "image", "model", "orientation", "duration"]
    expected += ["hd"] if hd else []
    expected += ["style"] if styles else []
    assert [o["name"] for o in command["options"]] == expected
    assert choices(options["model"]) == models
    assert choices(options["duration"]) == durations
    if styles:
        assert choices(options["style"]) == styles


async def test_sora_models_narrows_the_registered_choices(
    tmp_path, fake: FakeDiscord, simulator
):
    env = bot_env(tmp_path, fake, simulator, "v2")
    settings = bot_settings(env).model_copy(
        update={
            "sora_models": (
                ModelCapability(name="fast", sent_as="sora-2", seconds=(10,)),
            )
        }
    )

    async with running_bot(settings, fake):
        command = fake.command("sora")
        await fake.send_slash("sora", {"prompt": "a heron"})
        await finished_job(fake, 1)

    assert command is not None
    options = {o["name"]: o for o in command["options"]}
    assert choices(options["model"]) == ["fast"]
    assert choices(options["duration"]) == [10]
    assert "hd" not in options
    [create] = simulator.requests
    assert (create.body["model"], create.body["duration"]) == ("sora-2", "10")


@pytest.mark.parametrize("dialect", PRIVATE_DIALECTS)
async def test_private_mode_sends_private_true_on_every_create(
    dialect, tmp_path, fake: FakeDiscord, simulator
):
    env = bot_env(tmp_path, fake, simulator, dialect)
    async with running_bot(bot_settings(env), fake):
        inter = await fake.send_slash(
            "sora-settings",
            private_mode_on(),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(
            lambda: "Private mode in this server: on" in reply_text(inter)
        )
        for number, prompt in enumerate(["a fox", "a hare"], start=1):
            await fake.send_slash("sora", {"prompt": prompt})
            await finished_job(fake, number)

    assert "hides nothing in this chat" in reply_text(inter)
    assert [r.body["private"] for r in simulator.requests] == [True, True]
    for status in await wait_for_status(fake, 2):
        fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
        assert fields["Private"] == PRIVATE_MODE_NOTE
        assert "private" in fields["Settings"]


@pytest.mark.parametrize("dialect", sorted(set(SORA_OPTIONS) - set(PRIVATE_DIALECTS)))
async def test_private_mode_is_not_available_where_the_provider_has_no_private_field(
    dialect, tmp_path, fake: FakeDiscord, simulator
):
    env = bot_env(tmp_path, fake, simulator, dialect)
    async with running_bot(bot_settings(env), fake) as runtime:
        inter = await fake.send_slash(
            "sora-settings",
            private_mode_on(),
            user="mod",
            member_permissions=MODERATOR_PERMISSIONS,
        )
        await fake.wait_until(lambda: "Private mode stays off" in reply_text(inter))
        model = runtime.service.default_model
        await fake.send_slash("sora", {"prompt": "a fox", "model": model})
        status, _ = await finished_job(fake, 1)

    assert "cannot keep videos unpublished" in reply_text(inter)
    assert "hides nothing in this chat" in reply_text(inter)
    assert inter.ephemeral
    [create] = simulator.requests
    assert "private" not in create.body
    fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
    assert "Private" not in fields
    assert "private" not in fields["Settings"]


async def test_remix_on_sora_is_the_providers_remix_of_the_finished_video(
    tmp_path, fake: FakeDiscord, simulator
):
    env = bot_env(tmp_path, fake, simulator, "sora")
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "a red kite"})
        _, result = await finished_job(fake, 1)
        click = await click_remix(fake, result)
        assert click.modal is not None
        await fake.submit_modal(
            click.modal["custom_id"], {"sora:remix-prompt": "a red kite at night"}
        )
        await eventually(lambda: len(simulator.requests) == 2)

    assert labels(result)["remix"] == "Remix"
    assert click.modal["title"] == "Remix this video"
    first, remix = simulator.requests
    assert remix.body["operation"] == "remix"
    source = remix.body["sdedit"]["source_generation_id"]
    assert source.startswith("gen_")
    assert "inpaint_items" not in remix.body
    assert first.body["operation"] == "simple_compose"


async def test_remix_elsewhere_is_labelled_a_new_video_with_the_same_settings(
    tmp_path, fake: FakeDiscord, simulator
):
    env = bot_env(tmp_path, fake, simulator, "openai")
    async with running_bot(bot_settings(env), fake):
        await fake.send_slash("sora", {"prompt": "a red kite"})
        _, result = await finished_job(fake, 1)
        click = await click_remix(fake, result)

    assert labels(result)["remix"] == "New video, same settings"
    assert click.modal is not None
    assert click.modal["title"] == "New video, same settings"
