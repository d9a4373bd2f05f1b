"""The sora dialect: raw Sora body, new-api envelope, inpaint size rule."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import ImageHost, image_bytes
from tests.simulator.helpers import Receiver, poll, wait_for

BODY: dict[str, Any] = {
    "type": "video_gen",
    "prompt": "a lighthouse in a storm",
    "width": 1280,
    "height": 720,
    "n_frames": 300,
    "n_variants": 1,
    "operation": "simple_compose",
    "style": "natural",
    "model": "turbo",
}


def done(answer: dict[str, Any]) -> bool:
    return bool(answer["data"]["status"] in ("SUCCESS", "FAILURE"))


async def test_create_answers_the_envelope_and_the_task_completes(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/sora/v1/videos", json=BODY)

    assert created.status_code == 200
    envelope = created.json()
    assert (envelope["code"], envelope["message"]) == ("success", "")
    task_id = envelope["data"]
    assert task_id.startswith("task_")
    answers = await poll(client, f"/sora/v1/videos/{task_id}", done)
    assert {a["code"] for a in answers} == {"success"}
    running = [a["data"] for a in answers if a["data"]["status"] == "IN_PROGRESS"]
    assert running
    assert all(0 < r["data"]["progress_pct"] < 1 for r in running)
    assert running[0]["progress"].endswith("%")
    final = answers[-1]["data"]
    assert (final["status"], final["progress"]) == ("SUCCESS", "100%")
    upstream = final["data"]
    assert (upstream["width"], upstream["height"], upstream["n_frames"]) == (
        1280,
        720,
        300,
    )
    url = upstream["generations"][0]["url"]
    assert url.endswith(".mp4")
    assert (await client.get(url)).content == sample_video()


async def test_inpaint_image_of_the_requested_size_is_accepted(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(720, 1280, "JPEG"), "image/jpeg", "ref.jpg")
    body = {
        **BODY,
        "width": 720,
        "height": 1280,
        "inpaint_items": [{"type": "image", "url": url, "frame_index": 0}],
    }

    response = await client.post("/sora/v1/videos", json=body)

    assert response.status_code == 200
    assert sim.requests[0].fetched[url].content_type == "image/jpeg"
    query = await client.get(f"/sora/v1/videos/{response.json()['data']}")
    assert query.json()["data"]["data"]["inpaint_items"][0]["url"] == url


async def test_inpaint_image_of_another_size_is_refused_with_the_documented_message(
    client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(1024, 1024))
    body = {**BODY, "inpaint_items": [{"type": "image", "url": url}]}

    response = await client.post("/sora/v1/videos", json=body)

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_request",
        "message": "Inpaint image must match the requested width and height",
        "data": None,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 1920, "height": 1080}, "width"),
        ({"width": "1280"}, "width"),
        ({"n_frames": 250}, "n_frames"),
        ({"n_frames": "300"}, "n_frames"),
        ({"type": "image_gen"}, "type"),
        ({"model": "sora-2"}, "model"),
        ({"operation": "extend"}, "operation"),
        ({"inpaint_items": [{"type": "image"}]}, "inpaint_items[0].url"),
        ({"inpaint_items": [{"url": "x", "kind": 1}]}, "inpaint_items[0].kind"),
        ({"actions": [{"time": "0", "description": "x"}]}, "actions[0].time"),
        ({"sdedit": {"amount": 9, "source_generation_id": "g"}}, "sdedit.amount"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio"),
    ],
)
async def test_invalid_bodies_get_400_in_the_envelope(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post("/sora/v1/videos", json={**BODY, **change})

    assert response.status_code == 400
    envelope = response.json()
    assert envelope["data"] is None
    assert field in envelope["message"]


async def test_unknown_task_is_400_task_not_exist(client: httpx.AsyncClient) -> None:
    response = await client.get("/sora/v1/videos/task_01jhjnz502ejqsm6r37km2q637")

    assert response.status_code == 400
    assert response.json() == {
        "code": "task_not_exist",
        "message": "task_not_exist",
        "data": None,
    }


async def test_prompt_moderation_fails_at_once_in_data_fail_reason(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("moderation_prompt")
    task_id = (await client.post("/sora/v1/videos", json=BODY)).json()["data"]

    answer = (await client.get(f"/sora/v1/videos/{task_id}")).json()["data"]

    assert answer["status"] == "FAILURE"
    assert "prompt was rejected" in answer["fail_reason"]
    assert answer["data"]["status"] == "failed"


async def test_notify_hook_is_echoed_and_called_with_the_envelope(
    sim: Simulator,
) -> None:
    async with (
        Receiver() as receiver,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        body = {**BODY, "notify_hook": receiver.url}
        task_id = (await client.post("/sora/v1/videos", json=body)).json()["data"]
        first = (await client.get(f"/sora/v1/videos/{task_id}")).json()
        await wait_for(lambda: bool(receiver.received))

    assert first["data"]["notify_hook"] == receiver.url
    payload = json.loads(receiver.received[0][1])
    assert payload["code"] == "success"
    assert payload["data"]["status"] == "SUCCESS"
    assert payload["data"]["task_id"] == task_id
