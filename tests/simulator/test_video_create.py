"""The video-create dialect: /v1/video/create and /v1/video/query?id=."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import ImageHost, image_bytes
from tests.simulator.helpers import (
    assert_accepted,
    assert_refused,
    poll,
    post_create,
)

BODY: dict[str, Any] = {
    "images": [],
    "model": "sora-2",
    "orientation": "portrait",
    "prompt": "make animate",
    "size": "small",
    "duration": 10,
    "watermark": False,
    "private": True,
}


def query_url(task_id: str) -> str:
    return str(httpx.URL("/v1/video/query", params={"id": task_id}))


async def test_create_then_query_until_completed(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    created = await client.post("/v1/video/create", json=BODY)

    assert created.status_code == 200
    answer = created.json()
    assert set(answer) == {"id", "status", "status_update_time"}
    assert answer["id"].startswith("sora-2:task_")
    assert answer["status"] == "pending"
    assert answer["status_update_time"] > 1_000_000_000_000  # milliseconds
    answers = await poll(
        client,
        query_url(answer["id"]),
        lambda a: a["status"] in ("completed", "failed"),
        interval=0.01,
    )
    waiting = [a for a in answers if a["status"] in ("pending", "queued")]
    assert all(a["progress"] == "0" for a in waiting)
    assert waiting[0]["detail"]["input"]["prompt"] == "make animate"
    processing = [a for a in answers if a["status"] == "processing"]
    assert processing
    assert all(isinstance(a["progress"], int) for a in processing)
    assert 0 < processing[0]["detail"]["pending_info"]["progress_pct"] < 1
    final = answers[-1]
    assert (final["status"], final["progress"], final["size"]) == (
        "completed",
        100,
        "small",
    )
    assert final["url"] == final["video_url"]
    assert (await client.get(final["video_url"])).content == sample_video()
    assert sim.queries[answer["id"]] == len(answers)


async def test_images_are_fetched(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(720, 1280))

    response = await client.post("/v1/video/create", json={**BODY, "images": [url]})

    assert response.status_code == 200
    assert url in sim.requests[0].fetched


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"images": None}, "images"),
        ({"size": "large"}, "size"),
        ({"duration": "10"}, "duration"),
        ({"storyboard": "yes"}, "storyboard"),
        ({"model": "veo3"}, "model"),
    ],
)
async def test_invalid_bodies_get_400(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}

    response = await client.post("/v1/video/create", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


async def test_failure_has_detail_failure_reason(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("fail")
    task_id = (await client.post("/v1/video/create", json=BODY)).json()["id"]

    answers = await poll(client, query_url(task_id), lambda a: a["status"] == "failed")

    final = answers[-1]
    assert final["video_url"] is None
    assert final["detail"]["failure_reason"].startswith("Video generation failed")


async def test_missing_or_unknown_id(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/video/query")
    unknown = await client.get(query_url("sora-2:task_01k9008rhbefnt3rb1g9szxdwr"))

    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "id"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "task_not_exist"


# --- document 004, field by field ----------------------------------------------------

STYLES = ["thanksgiving", "comic", "news", "selfie", "nostalgic", "anime"]


async def test_video_create_accepts_every_documented_field_and_records_them(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(1024, 1792))
    body = {
        "images": [url],
        "model": "sora-2-pro",
        "orientation": "portrait",
        "prompt": "make animate",
        "size": "large",
        "duration": 15,
        "watermark": True,
        "private": True,
        "style": "comic",
        "storyboard": True,
    }

    response = await post_create(client, "video-create", body)

    assert_accepted(sim, "video-create", response, body)
    answer = (await client.get(query_url(response.json()["id"]))).json()
    assert answer["size"] == "large"


@pytest.mark.parametrize("style", STYLES)
async def test_video_create_accepts_each_documented_style(
    client: httpx.AsyncClient, style: str
) -> None:
    response = await post_create(client, "video-create", {**BODY, "style": style})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("duration", [10, 15])
async def test_video_create_accepts_10_and_15_seconds_on_sora_2(
    client: httpx.AsyncClient, duration: int
) -> None:
    body = {**BODY, "duration": duration}

    response = await post_create(client, "video-create", body)

    assert response.status_code == 200, response.text


async def test_video_create_accepts_large_at_25_seconds_where_it_has_no_effect(
    client: httpx.AsyncClient,
) -> None:
    body = {**BODY, "model": "sora-2-pro", "size": "large", "duration": 25}

    response = await post_create(client, "video-create", body)

    assert response.status_code == 200, response.text
    answer = (await client.get(query_url(response.json()["id"]))).json()
    assert answer["size"] == "small"


async def test_video_create_refuses_25_seconds_without_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "video-create", {**BODY, "duration": 25})

    assert_refused(sim, "video-create", response, "duration")
    assert "sora-2-pro" in response.json()["error"]["message"]


async def test_video_create_refuses_a_duration_outside_10_15_25(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "video-create", {**BODY, "duration": 20})

    assert_refused(sim, "video-create", response, "duration")


async def test_video_create_refuses_a_style_outside_the_six(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "video-create", {**BODY, "style": "natural"})

    assert_refused(sim, "video-create", response, "style")


async def test_video_create_refuses_orientation_square(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    body = {**BODY, "orientation": "square"}

    response = await post_create(client, "video-create", body)

    assert_refused(sim, "video-create", response, "orientation")


async def test_video_create_refuses_a_size_other_than_small_or_large(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "video-create", {**BODY, "size": "720p"})

    assert_refused(sim, "video-create", response, "size")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hd", True),
        ("aspect_ratio", "9:16"),
        ("seconds", 10),
        ("remove_watermark", False),
        ("image_urls", []),
    ],
)
async def test_video_create_refuses_fields_its_document_lacks(
    sim: Simulator, client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await post_create(client, "video-create", {**BODY, field: value})

    assert_refused(sim, "video-create", response, field)
