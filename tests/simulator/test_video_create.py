"""The video-create dialect: /v1/video/create and /v1/video/query?id=."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import ImageHost, image_bytes
from tests.simulator.helpers import poll

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
        ({"orientation": "square"}, "orientation"),
        ({"size": "large"}, "size"),
        ({"duration": "10"}, "duration"),
        ({"duration": 25}, "duration"),
        ({"style": "noir"}, "style"),
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


async def test_pro_takes_large_25_seconds_and_a_style(
    client: httpx.AsyncClient,
) -> None:
    body = {**BODY, "model": "sora-2-pro", "size": "large", "duration": 25}

    response = await client.post(
        "/v1/video/create", json={**body, "style": "anime", "storyboard": True}
    )

    assert response.status_code == 200
    assert response.json()["id"].startswith("sora-2-pro:task_")


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
