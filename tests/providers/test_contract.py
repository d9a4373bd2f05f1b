"""Every dialect's real client against the simulator, over HTTP: the exact request
the relay received and the normalised answers the bot gets back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from aiohttp import web

from bot.capabilities import ModelCapability, narrowed
from bot.errors import ConfigError
from bot.models import ImageInput, Orientation, ProviderState
from bot.ports import PreparedImage, Submission
from bot.providers import PROVIDERS, make_provider
from bot.simulator import sample_video
from tests.fakes.provider import ImageHost, image_bytes
from tests.providers.conftest import (
    make_request,
    provider_for,
    run_to_end,
)

DIALECTS = sorted(PROVIDERS)
PROMPT = "a corgi surfing at sunset"
PROFILES = {d: PROVIDERS[d].profile for d in DIALECTS}


def first_model(dialect: str) -> str:
    return PROFILES[dialect].models[0].name


@pytest.fixture
async def images() -> AsyncIterator[ImageHost]:
    async with ImageHost() as host:
        yield host


# --- what each dialect must send -----------------------------------------------------

Expected = Callable[[str | None], dict[str, Any]]

TEXT_TO_VIDEO: dict[str, dict[str, Any]] = {
    "v2": {
        "prompt": PROMPT,
        "model": "sora-2",
        "aspect_ratio": "16:9",
        "hd": False,
        "duration": "10",
        "watermark": False,
        "private": False,
    },
    "sora": {
        "type": "video_gen",
        "prompt": PROMPT,
        "width": 1280,
        "height": 720,
        "n_frames": 150,
        "n_variants": 1,
        "operation": "simple_compose",
        "model": "turbo",
    },
    "unified": {
        "model": "sora-2",
        "prompt": PROMPT,
        "aspect_ratio": "16:9",
        "duration": 10,
        # The standard price: removal is dearer and only on the operator's word.
        "remove_watermark": False,
    },
    "openai": {
        "model": "sora-2",
        "prompt": PROMPT,
        "size": "1280x720",
        "seconds": "10",
        "watermark": "false",
    },
    "video-create": {
        "images": [],
        "model": "sora-2",
        "orientation": "landscape",
        "prompt": PROMPT,
        "size": "small",
        "duration": 10,
        # Document 004: "The default is true".
        "watermark": True,
        "private": False,
        "storyboard": False,
    },
}

# Portrait, the first model's longest length, with a reference image (``url`` is
# None for the upload dialect).
IMAGE_TO_VIDEO: dict[str, Expected] = {
    "v2": lambda url: {
        **TEXT_TO_VIDEO["v2"],
        "aspect_ratio": "9:16",
        "duration": "15",
        "images": [url],
    },
    "sora": lambda url: {
        **TEXT_TO_VIDEO["sora"],
        "width": 720,
        "height": 1280,
        "n_frames": 300,
        "inpaint_items": [{"type": "image", "url": url, "frame_index": 0}],
    },
    "unified": lambda url: {
        **TEXT_TO_VIDEO["unified"],
        "aspect_ratio": "9:16",
        "duration": 15,
        "image_urls": [url],
    },
    "openai": lambda url: {
        **TEXT_TO_VIDEO["openai"],
        "size": "720x1280",
        "seconds": "15",
    },
    "video-create": lambda url: {
        **TEXT_TO_VIDEO["video-create"],
        "images": [url],
        "orientation": "portrait",
        "duration": 15,
    },
}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_text_to_video_sends_the_documented_body_and_delivers_the_mp4(
    dialect, sim, client, tmp_path
):
    provider = provider_for(dialect, sim, client)

    request = make_request(
        prompt=PROMPT, model=first_model(dialect), seconds=PROFILES[dialect].seconds[0]
    )
    task_id = await provider.create(Submission(request=request))
    seen = await run_to_end(provider, task_id)
    video = await provider.download(task_id, seen[-1], tmp_path / "out" / "v.mp4")

    (received,) = sim.requests
    assert (received.dialect, received.method, received.status) == (
        dialect,
        "POST",
        200,
    )
    assert received.task_id == task_id
    assert received.body == TEXT_TO_VIDEO[dialect]
    percents = [s.progress.percent for s in seen]
    assert percents == sorted(percents)
    assert {s.state for s in seen[:-1]} <= {ProviderState.QUEUED, ProviderState.RUNNING}
    assert (seen[-1].state, seen[-1].progress.percent) == (ProviderState.SUCCEEDED, 100)
    assert await anyio.Path(video.path).read_bytes() == sample_video()
    assert video.size_bytes == len(sample_video())
    assert video.content_type == "video/mp4"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_image_to_video_sends_the_image_the_dialect_way(
    dialect, sim, client, images, tmp_path
):
    provider = provider_for(dialect, sim, client)
    data = image_bytes(720, 1280)
    by_url = provider.profile.image_transport == "url"
    url = images.publish(data) if by_url else None
    request = make_request(
        prompt=PROMPT,
        model=first_model(dialect),
        orientation=Orientation.PORTRAIT,
        seconds=PROFILES[dialect].models[0].seconds[-1],
        image=ImageInput(filename="ref.png", data=data, content_type="image/png"),
    )
    image = PreparedImage(
        filename="ref.png", content_type="image/png", data=data, url=url
    )

    task_id = await provider.create(Submission(request=request, image=image))
    seen = await run_to_end(provider, task_id)
    video = await provider.download(task_id, seen[-1], tmp_path / "v.mp4")

    (received,) = sim.requests
    assert received.status == 200
    body = dict(received.body)
    if by_url:
        assert body == IMAGE_TO_VIDEO[dialect](url)
        assert (received.fetched[url].width, received.fetched[url].height) == (
            720,
            1280,
        )
    else:
        upload = body.pop("input_reference")
        assert body == IMAGE_TO_VIDEO[dialect](None)
        assert (upload.filename, upload.content_type) == ("ref.png", "image/png")
        assert (upload.width, upload.height) == (720, 1280)
        assert upload.size == len(data)
    assert seen[-1].state is ProviderState.SUCCEEDED
    assert video.size_bytes == len(sample_video())


# --- every option a profile offers reaches the provider in the dialect's field -------

# How each dialect spells the length.
LENGTH_FIELD: dict[str, tuple[str, Callable[[int], object]]] = {
    "v2": ("duration", str),
    "sora": ("n_frames", lambda s: s * 30),
    "unified": ("duration", int),
    "openai": ("seconds", str),
    "video-create": ("duration", int),
}
# How each dialect spells HD, landscape.
HD_FIELD: dict[str, tuple[str, object, object]] = {
    "v2": ("hd", True, False),
    "openai": ("size", "1792x1024", "1280x720"),
    "video-create": ("size", "large", "small"),
}
PRIVATE_FIELD = {"v2": "private", "video-create": "private"}
STYLE_FIELD = {"sora": "style", "video-create": "style"}
# The operator's watermark choice, as each dialect with a field spells it.
WATERMARK_FIELD: dict[str, tuple[str, Callable[[bool], object]]] = {
    "v2": ("watermark", bool),
    "unified": ("remove_watermark", lambda keep: not keep),
    "openai": ("watermark", lambda keep: "true" if keep else "false"),
    "video-create": ("watermark", bool),
}

OFFERED_LENGTHS = [
    (d, m.name, s) for d in DIALECTS for m in PROFILES[d].models for s in m.seconds
]
OFFERED_HD = [
    (d, m.name, s) for d in DIALECTS for m in PROFILES[d].models for s in m.hd_seconds
]


def test_the_field_tables_cover_exactly_what_the_profiles_offer():
    assert set(LENGTH_FIELD) == set(DIALECTS)
    assert set(HD_FIELD) == {d for d in DIALECTS if PROFILES[d].hd}
    assert set(PRIVATE_FIELD) == {d for d in DIALECTS if PROFILES[d].private}
    assert set(STYLE_FIELD) == {d for d in DIALECTS if PROFILES[d].styles}
    assert set(WATERMARK_FIELD) == {d for d in DIALECTS if PROFILES[d].watermark}


@pytest.mark.parametrize(("dialect", "model", "seconds"), OFFERED_LENGTHS)
async def test_every_offered_model_and_length_reaches_the_provider(
    dialect, model, seconds, sim, client
):
    provider = provider_for(dialect, sim, client)

    await provider.create(
        Submission(request=make_request(model=model, seconds=seconds))
    )

    (received,) = sim.requests
    field, spelled = LENGTH_FIELD[dialect]
    assert received.status == 200
    assert received.body["model"] == model
    assert received.body[field] == spelled(seconds)


@pytest.mark.parametrize(("dialect", "model", "seconds"), OFFERED_HD)
async def test_every_offered_hd_length_asks_for_the_hd_render(
    dialect, model, seconds, sim, client
):
    provider = provider_for(dialect, sim, client)

    await provider.create(
        Submission(request=make_request(model=model, seconds=seconds, hd=True))
    )

    field, hd, _ = HD_FIELD[dialect]
    assert sim.requests[-1].status == 200
    assert sim.requests[-1].body[field] == hd


@pytest.mark.parametrize("dialect", sorted(HD_FIELD))
async def test_without_hd_the_standard_render_is_asked_for(dialect, sim, client):
    provider = provider_for(dialect, sim, client)

    await provider.create(Submission(request=make_request(model="sora-2-pro")))

    field, _, standard = HD_FIELD[dialect]
    assert sim.requests[-1].body[field] == standard


@pytest.mark.parametrize("dialect", sorted(PRIVATE_FIELD))
async def test_private_mode_sends_private_true_to_provider(dialect, sim, client):
    provider = provider_for(dialect, sim, client)

    await provider.create(Submission(request=make_request(private=True)))

    assert sim.requests[-1].status == 200
    assert sim.requests[-1].body[PRIVATE_FIELD[dialect]] is True


@pytest.mark.parametrize("dialect", sorted(set(DIALECTS) - set(PRIVATE_FIELD)))
async def test_a_dialect_without_private_is_never_sent_a_private_field(
    dialect, sim, client
):
    provider = provider_for(dialect, sim, client)

    await provider.create(
        Submission(request=make_request(model=first_model(dialect), seconds=10))
    )

    assert "private" not in sim.requests[-1].body


@pytest.mark.parametrize(
    ("dialect", "keep"),
    [(d, keep) for d in sorted(WATERMARK_FIELD) for keep in (True, False)],
)
async def test_the_operators_watermark_choice_is_sent_the_dialect_way(
    dialect, keep, sim, client
):
    provider = provider_for(dialect, sim, client, watermark=keep)

    await provider.create(Submission(request=make_request()))

    field, spelled = WATERMARK_FIELD[dialect]
    assert sim.requests[-1].status == 200
    assert sim.requests[-1].body[field] == spelled(keep)


def test_a_watermark_choice_for_a_dialect_without_the_field_is_a_config_error(
    client,
):
    with pytest.raises(ConfigError, match="sora dialect has no watermark setting"):
        make_provider(
            "sora",
            base_url="http://relay.test",
            api_key=None,
            client=client,
            watermark=False,
        )


@pytest.mark.parametrize("dialect", sorted(STYLE_FIELD))
async def test_every_offered_style_is_accepted(dialect, sim, client):
    provider = provider_for(dialect, sim, client)
    model, styles = first_model(dialect), PROFILES[dialect].styles

    for style in styles:
        await provider.create(
            Submission(request=make_request(model=model, seconds=10, style=style))
        )

    assert [r.body[STYLE_FIELD[dialect]] for r in sim.requests] == list(styles)
    assert {r.status for r in sim.requests} == {200}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_renamed_model_is_offered_by_its_name_and_sent_as_the_relays(
    dialect, sim, client
):
    base = PROFILES[dialect].models[0]
    renamed = ModelCapability(name="fast", sent_as=base.name, seconds=base.seconds)
    profile = narrowed(PROFILES[dialect], [renamed])
    provider = provider_for(dialect, sim, client, profile=profile)

    await provider.create(
        Submission(request=make_request(model="fast", seconds=base.seconds[0]))
    )

    assert profile.model_names == ("fast",)
    assert sim.requests[-1].status == 200
    assert sim.requests[-1].body["model"] == base.name


async def test_sora_remix_names_the_source_generation(sim, client):
    provider = provider_for("sora", sim, client)
    task_id = await provider.create(
        Submission(request=make_request(model="turbo", seconds=5))
    )
    finished = (await run_to_end(provider, task_id))[-1]

    await provider.create(
        Submission(
            request=make_request(
                model="turbo",
                seconds=5,
                prompt="now at night",
                remix_of=finished.generation_id,
            )
        )
    )

    assert finished.generation_id
    remix = sim.requests[-1]
    assert remix.status == 200
    assert remix.body["operation"] == "remix"
    assert remix.body["sdedit"] == {
        "amount": 4,
        "source_generation_id": finished.generation_id,
        "source_upload_media_id": None,
    }
    assert "inpaint_items" not in remix.body


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_callback_url_is_sent_only_where_the_dialect_takes_one(
    dialect, sim, client, serve
):
    got: list[Any] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        got.append(await request.json())
        arrived.set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/callbacks/tok", receive)
    hook = f"{await serve(app)}/callbacks/tok"
    provider = provider_for(dialect, sim, client)
    request = make_request(model=first_model(dialect), seconds=10)

    await provider.create(Submission(request=request, callback_url=hook))

    body = sim.requests[-1].body
    sent = {k: v for k, v in body.items() if v == hook}
    if provider.profile.callbacks:
        assert list(sent) == [{"unified": "callback_url"}.get(dialect, "notify_hook")]
        await asyncio.wait_for(arrived.wait(), timeout=5)
        # The callback body is the query answer, so the same parser reads it.
        assert PROVIDERS[dialect].parse_status(got[0]).state is ProviderState.SUCCEEDED
    else:
        assert sent == {}
    assert sim.requests[-1].status == 200
