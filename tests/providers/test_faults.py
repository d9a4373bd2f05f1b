"""Every dialect's client meets the simulator's faults and maps each one right."""

from __future__ import annotations

import anyio
import pytest

from bot.errors import (
    ProviderAuthError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnavailable,
)
from bot.models import FailureKind, ProviderState
from bot.ports import Submission, VideoProvider
from bot.providers import PROVIDERS
from tests.fakes.provider import running_simulator
from tests.providers.conftest import (
    SIM_KEY,
    make_request,
    provider_for,
    run_to_end,
)

DIALECTS = sorted(PROVIDERS)


async def create(provider: VideoProvider, **fields: object) -> str:
    """A create of the provider's first model at its shortest length, unless
    ``fields`` say otherwise."""
    model = provider.profile.models[0]
    fields = {"model": model.name, "seconds": model.seconds[0], **fields}
    return await provider.create(Submission(request=make_request(**fields)))


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_output_moderation_after_90_percent_names_the_review_stage(
    dialect, client
):
    async with running_simulator(1.0, api_key=SIM_KEY) as sim:
        provider = provider_for(dialect, sim, client)
        sim.inject("moderation")

        seen = await run_to_end(provider, await create(provider))

    final = seen[-1]
    assert final.state is ProviderState.FAILED
    assert max(s.progress.percent for s in seen) > 80
    assert final.failure is not None
    assert final.failure.kind is FailureKind.MODERATION_OUTPUT
    assert "{" not in final.failure.message


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("moderation_prompt", FailureKind.MODERATION_PROMPT),
        ("moderation_image", FailureKind.MODERATION_IMAGE),
        ("fail", FailureKind.PROVIDER_ERROR),
    ],
)
async def test_in_band_failures_say_which_stage_refused(
    dialect, fault, kind, sim, client
):
    provider = provider_for(dialect, sim, client)
    sim.inject(fault)

    final = (await run_to_end(provider, await create(provider)))[-1]

    assert final.state is ProviderState.FAILED
    assert final.failure is not None
    assert final.failure.kind is kind


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_429_on_create_carries_retry_after_then_the_resend_succeeds(
    dialect, sim, client
):
    provider = provider_for(dialect, sim, client)
    sim.inject("rate_limit", on="create", seconds=2)

    with pytest.raises(ProviderRateLimited) as caught:
        await create(provider)
    task_id = await create(provider)

    assert caught.value.retry_after == 2.0
    assert caught.value.retryable
    assert [r.status for r in sim.requests] == [429, 200]
    assert sim.requests[-1].task_id == task_id


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_429_on_query_carries_retry_after_then_the_next_query_succeeds(
    dialect, sim, client
):
    provider = provider_for(dialect, sim, client)
    task_id = await create(provider)
    sim.inject("rate_limit", on="query", seconds=3)

    with pytest.raises(ProviderRateLimited) as caught:
        await provider.query(task_id)
    final = (await run_to_end(provider, task_id))[-1]

    assert caught.value.retry_after == 3.0
    assert final.state is ProviderState.SUCCEEDED


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable_and_the_next_query_succeeds(
    dialect, status, sim, client
):
    provider = provider_for(dialect, sim, client)
    task_id = await create(provider)
    sim.inject("server_error", on="query", status=status)

    with pytest.raises(ProviderUnavailable) as caught:
        await provider.query(task_id)
    final = (await run_to_end(provider, task_id))[-1]

    assert caught.value.retryable
    assert caught.value.status_code == status
    assert final.state is ProviderState.SUCCEEDED


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_failed_create_after_a_server_error_can_be_sent_again(
    dialect, sim, client
):
    provider = provider_for(dialect, sim, client)
    sim.inject("server_error", on="create")

    with pytest.raises(ProviderUnavailable):
        await create(provider)
    task_id = await create(provider)

    assert [r.status for r in sim.requests] == [500, 200]
    assert sim.requests[-1].task_id == task_id


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("on", "mode"),
    [
        ("create", "not_json"),
        ("create", "missing_fields"),
        ("query", "not_json"),
        ("query", "missing_fields"),
    ],
)
async def test_malformed_answers_are_protocol_errors(dialect, on, mode, sim, client):
    provider = provider_for(dialect, sim, client)
    task_id = await create(provider) if on == "query" else ""
    sim.inject("malformed", on=on, mode=mode)

    with pytest.raises(ProviderProtocolError) as caught:
        await (create(provider) if on == "create" else provider.query(task_id))

    assert "video service" in str(caught.value)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "task_id", ["task_01jhjnz502ejqsm6r37km2q637", "sora-2:task_nope", "x"]
)
async def test_an_unknown_task_id_is_reported_as_unknown(dialect, task_id, sim, client):
    provider = provider_for(dialect, sim, client)

    with pytest.raises(ProviderTaskUnknown):
        await provider.query(task_id)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(
    dialect, sim, client
):
    wrong = "sk-wrong-key-987654"
    provider = provider_for(dialect, sim, client, key=wrong)

    with pytest.raises(ProviderAuthError) as caught:
        await create(provider)

    assert not caught.value.retryable
    assert wrong not in str(caught.value)
    assert SIM_KEY not in str(caught.value)
    assert sim.requests[-1].status == 401


@pytest.mark.parametrize(
    ("dialect", "field", "seconds"),
    [
        ("v2", "duration", 25),
        ("unified", "duration", 25),
        ("video-create", "duration", 25),
        ("sora", "n_frames", 7),
    ],
)
async def test_a_refused_request_names_the_field(dialect, field, seconds, sim, client):
    provider = provider_for(dialect, sim, client)

    with pytest.raises(ProviderRejected) as caught:
        await create(provider, seconds=seconds)

    assert caught.value.field == field
    assert f"`{field}`" in caught.value.user_message
    assert "{" not in caught.value.user_message


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_large_result_is_streamed_to_disk_whole(dialect, sim, client, tmp_path):
    provider = provider_for(dialect, sim, client)
    sim.inject("large", bytes=3_000_000)
    task_id = await create(provider)

    final = (await run_to_end(provider, task_id))[-1]
    video = await provider.download(task_id, final, tmp_path / "big.mp4")

    assert video.size_bytes == 3_000_000
    assert (await anyio.Path(video.path).stat()).st_size == 3_000_000
