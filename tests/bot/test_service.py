"""The use cases through a real runtime: what is stored, sent and shown."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import PermissionDenied, UserInputError
from bot.models import ChatRef, Platform, Requester, TaskState
from bot.ports import Scope
from tests.fakes.chat import RecordingChat
from tests.fakes.tasks import creates, make_image, make_request, settled

WORKSPACE = Scope(platform=Platform.CLI, workspace_id="w1")
CHANNEL = Scope(platform=Platform.CLI, workspace_id="w1", channel_id="c1")
ANN = Requester(user_id="u1", display_name="Ann")
BOB = Requester(user_id="bob", display_name="Bob")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "  "}, "The prompt is empty"),
        ({"prompt": "x" * 1001}, "the limit is 1000"),
        ({"seconds": 25}, "sora-2 makes 10 or 15-second videos, not 25"),
        ({"hd": True}, "HD videos need sora-2-pro"),
        ({"private": True}, "cannot keep videos unpublished"),
        ({"model": "sora-9"}, "Unknown model"),
        ({"image": make_image(data=b"not an image")}, "is not a JPEG, PNG or WebP"),
    ],
)
async def test_invalid_request_stores_nothing_and_sends_nothing(
    make_runtime, simulator, fields: dict[str, object], message: str
) -> None:
    runtime = await make_runtime()

    with pytest.raises(UserInputError, match=message):
        await runtime.service.submit(make_request(**fields))

    assert await runtime.store.recent() == []
    assert simulator.requests == []
    assert runtime.chat.events == []


async def test_submit_posts_status_and_keeps_the_thread_reference(
    make_runtime,
) -> None:
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request())
    stored = await runtime.store.get(task.id)

    assert task.chat.status_message_id == f"msg-{task.id}"
    assert stored.chat == task.chat
    assert runtime.chat.of(task.id, "status")[0].task.state is TaskState.RECEIVED
    assert task.deadline_at is not None
    assert task.callback_token is not None
    assert len(task.callback_token) >= 32


async def test_private_mode_sends_private_true_to_provider(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT="v2")
    await runtime.service.set_private_mode(WORKSPACE, True)

    task = await runtime.service.submit(make_request(private=False))
    await settled(runtime, task.id)

    assert creates(simulator)[0].body["private"] is True
    assert (await runtime.store.get(task.id)).request.private is True


@pytest.mark.parametrize("dialect", ["openai", "unified", "sora"])
async def test_private_mode_is_refused_where_the_provider_has_no_private_field(
    make_runtime, simulator, dialect
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT=dialect)

    with pytest.raises(UserInputError) as refused:
        await runtime.service.set_private_mode(WORKSPACE, True)

    message = refused.value.user_message
    assert "cannot keep videos unpublished" in message
    assert "hides nothing in this chat" in message
    assert await runtime.service.private_mode(make_request().chat) is False


async def test_channel_setting_overrides_workspace_private_mode(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT="v2")
    service = runtime.service
    await service.set_private_mode(WORKSPACE, True)
    await service.set_private_mode(CHANNEL, False)

    off_here = await service.private_mode(make_request().chat)
    task = await service.submit(make_request())
    await settled(runtime, task.id)
    await service.set_private_mode(CHANNEL, None)

    assert off_here is False
    assert creates(simulator)[0].body["private"] is False
    assert await service.private_mode(make_request().chat) is True


async def test_user_limit_without_a_queue_refuses_one_more_with_a_friendly_message(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(USER_CONCURRENCY_LIMIT=2, USER_QUEUE_LIMIT=0)
    for _ in range(2):
        await runtime.service.submit(make_request())

    with pytest.raises(
        UserInputError,
        match=r"You already have 2 videos in progress; wait for one to finish\.",
    ):
        await runtime.service.submit(make_request())
    other = await runtime.service.submit(make_request(user="someone-else"))

    assert other.state is TaskState.RECEIVED
    assert len(await runtime.store.recent()) == 3


async def test_workspace_user_limit_overrides_the_default_and_frees_up(
    make_runtime,
) -> None:
    runtime = await make_runtime(USER_QUEUE_LIMIT=0)
    service = runtime.service
    await service.set_user_limit(Platform.CLI, "w1", 1)

    first = await service.submit(make_request())
    with pytest.raises(UserInputError, match="You already have 1 video in"):
        await service.submit(make_request())
    await settled(runtime, first.id)
    second = await service.submit(make_request())

    assert await service.user_limit(Platform.CLI, "w1") == 1
    assert await service.user_limit(Platform.CLI, "w2") == 3
    assert second.id != first.id
    with pytest.raises(UserInputError, match="at least 1"):
        await service.set_user_limit(Platform.CLI, "w1", 0)


async def test_running_for_user_lists_in_flight_tasks(make_runtime) -> None:
    runtime = await make_runtime(start=False)
    task = await runtime.service.submit(make_request())

    running = await runtime.service.running_for_user(Platform.CLI, "w1", "u1")

    assert [task.id] == [t.id for t in running]


async def test_only_requester_or_moderator_may_cancel(make_runtime) -> None:
    runtime = await make_runtime(start=False)
    task = await runtime.service.submit(make_request())

    with pytest.raises(PermissionDenied, match="Only the person who asked"):
        await runtime.service.cancel(task.id, BOB, moderator=False)
    cancelled = await runtime.service.cancel(task.id, BOB, moderator=True)

    assert cancelled.state is TaskState.CANCELLED
    assert (await runtime.store.get(task.id)).state is TaskState.CANCELLED


async def test_cancelled_task_is_no_longer_polled_or_delivered(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()
    task = await runtime.service.submit(make_request())
    await runtime.chat.wait_for(
        lambda: any(e.task.provider_task_id for e in runtime.chat.of(task.id, "edit"))
    )

    await runtime.service.cancel(task.id, ANN, moderator=False)
    provider_id = (await runtime.store.get(task.id)).provider_task_id
    queries = simulator.queries.get(provider_id, 0)
    await asyncio.sleep(1.0)  # longer than the simulated task takes

    assert runtime.chat.outcomes(task.id) == []
    assert simulator.queries.get(provider_id, 0) <= queries + 1
    assert runtime.chat.of(task.id, "edit")[-1].task.state is TaskState.CANCELLED
    assert (await runtime.store.get(task.id)).state is TaskState.CANCELLED


async def test_finished_task_cannot_be_cancelled(make_runtime) -> None:
    runtime = await make_runtime()
    task = await runtime.service.submit(make_request())
    await settled(runtime, task.id)

    with pytest.raises(UserInputError, match="already finished"):
        await runtime.service.cancel(task.id, ANN, moderator=False)


async def test_retry_makes_a_new_task_with_the_same_settings(make_runtime) -> None:
    runtime = await make_runtime()
    original = await runtime.service.submit(
        make_request(model="sora-2-pro", seconds=15, hd=True)
    )
    await settled(runtime, original.id)

    retried = await runtime.service.retry(original.id, BOB)
    stored = await settled(runtime, retried.id)

    assert retried.id != original.id
    assert retried.parent_task_id == original.id
    assert stored.request.requester == BOB
    assert stored.request.model_dump(exclude={"requester"}) == (
        original.request.model_dump(exclude={"requester"})
    )
    assert stored.failure is None


async def test_remix_keeps_image_and_settings_with_a_new_prompt(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime()
    image = make_image()
    original = await runtime.service.submit(make_request(image=image, seconds=15))
    await settled(runtime, original.id)

    remixed = await runtime.service.remix(original.id, "now at night", BOB)
    await settled(runtime, remixed.id)

    stored = await runtime.store.get(remixed.id)
    assert stored.request.prompt == "now at night"
    assert stored.request.seconds == 15
    assert stored.request.image is not None
    assert stored.request.image.data == image.data
    assert creates(simulator)[-1].body["prompt"] == "now at night"
    assert creates(simulator)[-1].multipart  # the image travelled again


async def test_remix_of_a_private_video_is_a_new_private_video_where_no_provider_remix(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT="v2")
    original = await runtime.service.submit(make_request(private=True))
    await settled(runtime, original.id)

    remixed = await runtime.service.remix(original.id, "again", ANN)
    await settled(runtime, remixed.id)

    assert remixed.request.remix_of is None
    assert [c.body["private"] for c in creates(simulator)] == [True, True]
    assert creates(simulator)[-1].body["prompt"] == "again"


async def test_remix_on_sora_is_the_providers_remix_of_the_finished_video(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT="sora")
    original = await runtime.service.submit(make_request(model="turbo", seconds=5))
    done = await settled(runtime, original.id)

    remixed = await runtime.service.remix(original.id, "now at night", BOB)
    await settled(runtime, remixed.id)

    assert done.result is not None
    assert done.result.generation_id
    remix = creates(simulator)[-1]
    assert remix.body["operation"] == "remix"
    assert remix.body["sdedit"]["source_generation_id"] == done.result.generation_id
    assert remix.body["prompt"] == "now at night"
    assert (await runtime.store.get(remixed.id)).request.remix_of == (
        done.result.generation_id
    )


async def test_remix_prompt_is_validated(make_runtime) -> None:
    runtime = await make_runtime(start=False)
    original = await runtime.service.submit(make_request())

    with pytest.raises(UserInputError, match="The prompt is empty"):
        await runtime.service.remix(original.id, " ", ANN)


async def test_status_message_that_cannot_be_posted_stops_the_task(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(chat=RecordingChat(fail_status=True))

    with pytest.raises(RuntimeError):
        await runtime.service.submit(make_request())

    assert simulator.requests == []
    assert await runtime.store.unfinished() == []


async def test_image_a_url_only_provider_cannot_fetch_is_refused_early(
    make_runtime, simulator
) -> None:
    runtime = await make_runtime(SORA_API_DIALECT="unified")

    with pytest.raises(UserInputError):
        await runtime.service.submit(make_request(image=make_image()))

    assert await runtime.store.recent() == []
    assert simulator.requests == []


async def test_platform_chat_ref_is_kept_for_other_platforms(make_runtime) -> None:
    slack = RecordingChat(platform=Platform.SLACK)
    runtime = await make_runtime(start=False)
    runtime.service.register_chat(slack)
    request = make_request(platform=Platform.SLACK, workspace="T1", channel="C1")

    task = await runtime.service.submit(request)

    assert task.chat.platform is Platform.SLACK
    assert slack.of(task.id, "status")
    assert runtime.chat.events == []
    assert isinstance(task.chat, ChatRef)
