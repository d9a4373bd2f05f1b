"""The v2 dialect: JSON create, unwrapped status, string durations, notify_hook."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import ImageHost, image_bytes
from tests.simulator.helpers import (
    Receiver,
    assert_accepted,
    assert_refused,
    poll,
    post_create,
    wait_for,
)

BODY: dict[str, Any] = {
    "prompt": "make animate",
    "model": "sora-2",
    "aspect_ratio": "16:9",
    "hd": False,
    "duration": "10",
}


async def test_create_query_complete_and_download(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    created = await client.post("/v2/videos/generations", json=BODY)

    assert created.status_code == 200
    assert list(created.json()) == ["task_id"]
    task_id = created.json()["task_id"]
    answers = await poll(
        client,
        f"/v2/videos/generations/{task_id}",
        lambda a: a["status"] == "SUCCESS",
    )
    statuses = {a["status"] for a in answers}
    assert statuses <= {"NOT_START", "IN_PROGRESS", "SUCCESS"}
    assert "IN_PROGRESS" in statuses
    assert all(a["progress"].endswith("%") for a in answers)
    assert answers[0]["data"] is None
    done = answers[-1]
    assert done["progress"] == "100%"
    assert done["fail_reason"] == ""
    assert done["finish_time"] >= done["start_time"] >= done["submit_time"]
    video = await client.get(done["data"]["output"])
    assert video.content == sample_video()
    assert sim.requests[0].body == BODY
    assert sim.queries[task_id] == len(answers)


async def test_reference_image_url_is_fetched_and_recorded(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(640, 360))

    response = await client.post(
        "/v2/videos/generations", json={**BODY, "images": [url]}
    )

    assert response.status_code == 200
    assert sim.requests[0].fetched[url].width == 640


async def test_unreachable_image_is_refused(
    client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = f"{images.base_url}/missing.png"

    response = await client.post(
        "/v2/videos/generations", json={**BODY, "images": [url]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "images[0]"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration": "12"}, "duration"),
        ({"model": "sora-3"}, "model"),
        ({"model": None}, "model"),
        ({"prompt": ""}, "prompt"),
        ({"private": 1}, "private"),
        ({"images": "http://x/y.png"}, "images"),
        ({"notify_hook": "not a url"}, "notify_hook"),
    ],
)
async def test_invalid_bodies_get_400_naming_the_field(
    sim: Simulator, client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}

    response = await client.post("/v2/videos/generations", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field
    assert field in error["message"]
    assert sim.requests[0].task_id is None


async def test_unknown_task_is_404_task_not_exist(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/videos/generations/f0aa213c-c09e-4e19")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "task_not_exist"


async def test_moderation_marker_fails_after_90_percent_with_a_reason(
    client: httpx.AsyncClient,
) -> None:
    body = {**BODY, "prompt": "a knight #moderation"}
    task_id = (await client.post("/v2/videos/generations", json=body)).json()["task_id"]

    answers = await poll(
        client,
        f"/v2/videos/generations/{task_id}",
        lambda a: a["status"] == "FAILURE",
        interval=0.01,
    )

    assert max(int(a["progress"].rstrip("%")) for a in answers[:-1]) > 90
    assert answers[-1]["fail_reason"].startswith("The generated video did not pass")
    assert answers[-1]["data"] is None


async def test_notify_hook_gets_the_final_status_answer(sim: Simulator) -> None:
    async with (
        Receiver() as receiver,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        body = {**BODY, "notify_hook": receiver.url}
        created = await client.post("/v2/videos/generations", json=body)
        await wait_for(lambda: bool(receiver.received))
        final = await client.get(f"/v2/videos/generations/{created.json()['task_id']}")

    headers, raw = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw) == final.json()
    assert json.loads(raw)["status"] == "SUCCESS"


# --- document 000, field by field ----------------------------------------------------


async def test_v2_accepts_every_documented_field_and_records_them(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(1024, 1792))
    body = {
        "prompt": "make animate",
        "model": "sora-2-pro",
        "aspect_ratio": "9:16",
        "hd": True,
        "duration": "15",
        "notify_hook": "https://bot.example.com/callbacks/x",
        "watermark": True,
        "private": True,
        "images": [url],
    }

    response = await post_create(client, "v2", body)

    assert_accepted(sim, "v2", response, body)


@pytest.mark.parametrize("duration", ["10", "15"])
async def test_v2_accepts_10_and_15_seconds_on_sora_2(
    client: httpx.AsyncClient, duration: str
) -> None:
    response = await post_create(client, "v2", {**BODY, "duration": duration})

    assert response.status_code == 200, response.text


async def test_v2_accepts_hd_at_25_seconds_where_it_has_no_effect(
    client: httpx.AsyncClient,
) -> None:
    body = {**BODY, "model": "sora-2-pro", "duration": "25", "hd": True}

    response = await post_create(client, "v2", body)

    assert response.status_code == 200, response.text


async def test_v2_refuses_a_missing_prompt(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    body = {k: v for k, v in BODY.items() if k != "prompt"}

    assert_refused(sim, "v2", await post_create(client, "v2", body), "prompt")


async def test_v2_refuses_a_missing_model(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    body = {k: v for k, v in BODY.items() if k != "model"}

    assert_refused(sim, "v2", await post_create(client, "v2", body), "model")


async def test_v2_refuses_a_model_outside_its_enum(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "model": "turbo"})

    assert_refused(sim, "v2", response, "model")


async def test_v2_refuses_aspect_ratio_1_1(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "aspect_ratio": "1:1"})

    assert_refused(sim, "v2", response, "aspect_ratio")


async def test_v2_refuses_hd_without_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "hd": True})

    assert_refused(sim, "v2", response, "hd")


async def test_v2_refuses_25_seconds_without_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "duration": "25"})

    assert_refused(sim, "v2", response, "duration")
    assert "sora-2-pro" in response.json()["error"]["message"]


async def test_v2_refuses_duration_as_a_number(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "duration": 15})

    assert_refused(sim, "v2", response, "duration")


async def test_v2_refuses_a_duration_outside_10_15_25(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "v2", {**BODY, "duration": "5"})

    assert_refused(sim, "v2", response, "duration")


@pytest.mark.parametrize("field", ["hd", "watermark", "private"])
async def test_v2_refuses_its_booleans_as_strings(
    sim: Simulator, client: httpx.AsyncClient, field: str
) -> None:
    response = await post_create(client, "v2", {**BODY, field: "true"})

    assert_refused(sim, "v2", response, field)


@pytest.mark.parametrize("field", ["seconds", "size", "style", "remove_watermark"])
async def test_v2_refuses_fields_its_document_lacks(
    sim: Simulator, client: httpx.AsyncClient, field: str
) -> None:
    response = await post_create(client, "v2", {**BODY, field: "x"})

    assert_refused(sim, "v2", response, field)
