"""The unified dialect: task objects, image limits, callbacks with retries."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.simulator import Simulator, sample_video
from tests.fakes.provider import ImageHost, image_bytes, running_simulator
from tests.simulator.helpers import (
    Receiver,
    assert_accepted,
    assert_refused,
    poll,
    post_create,
    wait_for,
)

BODY: dict[str, Any] = {
    "model": "sora-2",
    "prompt": "A cat playing piano",
    "aspect_ratio": "9:16",
    "duration": 15,
    "remove_watermark": True,
}


def done(answer: dict[str, Any]) -> bool:
    return answer["status"] in ("completed", "failed")


async def test_task_object_goes_pending_processing_completed(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/videos/generations", json=BODY)

    assert created.status_code == 200
    task = created.json()
    assert task["id"].startswith("task-unified-")
    assert task["object"] == "video.generation.task"
    assert (task["status"], task["progress"]) == ("pending", 0)
    assert task["task_info"]["video_duration"] == 15
    answers = await poll(client, f"/v1/tasks/{task['id']}", done)
    assert "processing" in {a["status"] for a in answers}
    assert all(isinstance(a["progress"], int) for a in answers)
    final = answers[-1]
    assert final["status"] == "completed"
    assert final["task_info"] == {"can_cancel": False}
    assert "error" not in final
    assert (await client.get(final["results"][0])).content == sample_video()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration": "10"}, "duration"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"remove_watermark": "true"}, "remove_watermark"),
        ({"callback_url": 5}, "callback_url"),
    ],
)
async def test_invalid_bodies_get_400_with_param(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/videos/generations", json={**BODY, **change})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"], error["param"]) == (
        400,
        "invalid_request_error",
        field,
    )


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"GIF89a" + bytes(64), "image/gif"),
        (b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024), "image/png"),
    ],
    ids=["gif", "over-10-MB"],
)
async def test_images_beyond_the_limits_get_image_processing_error(
    sim: Simulator,
    client: httpx.AsyncClient,
    images: ImageHost,
    data: bytes,
    content_type: str,
) -> None:
    url = images.publish(data, content_type)

    response = await client.post(
        "/v1/videos/generations", json={**BODY, "image_urls": [url]}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "image_urls[0]"
    assert error["message"].startswith("image_processing_error")


async def test_a_fitting_image_is_fetched(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(300, 500, "WEBP"), "image/webp", "r.webp")

    response = await client.post(
        "/v1/videos/generations", json={**BODY, "image_urls": [url]}
    )

    assert response.status_code == 200
    assert sim.requests[0].fetched[url].width == 300


async def test_moderated_task_reports_content_policy_violation(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("moderation_image")
    task_id = (await client.post("/v1/videos/generations", json=BODY)).json()["id"]

    final = (await client.get(f"/v1/tasks/{task_id}")).json()

    assert final["status"] == "failed"
    assert final["error"]["code"] == "content_policy_violation"
    assert "input image" in final["error"]["message"]
    assert "results" not in final


async def test_unknown_task_is_404_not_found_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tasks/task-unified-1757169743-7cvnl5zw")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


async def test_callback_is_retried_after_failures_then_stops(sim: Simulator) -> None:
    async with (
        Receiver(statuses=(503, 500)) as receiver,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        body = {**BODY, "callback_url": receiver.url}
        task_id = (await client.post("/v1/videos/generations", json=body)).json()["id"]
        await wait_for(lambda: len(receiver.received) == 3)
        final = (await client.get(f"/v1/tasks/{task_id}")).json()

    assert [c.status for c in sim.callbacks_sent] == [503, 500, 200]
    assert [c.attempt for c in sim.callbacks_sent] == [1, 2, 3]
    assert all(json.loads(raw) == final for _, raw in receiver.received)


async def test_callback_gives_up_after_three_retries(sim: Simulator) -> None:
    async with (
        Receiver(statuses=(500,) * 10) as receiver,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        await client.post(
            "/v1/videos/generations", json={**BODY, "callback_url": receiver.url}
        )
        await wait_for(lambda: len(receiver.received) == 4)
        await wait_for(lambda: len(sim.callbacks_sent) == 4)

    assert [c.attempt for c in sim.callbacks_sent] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://localhost/hook",
    ],
)
async def test_without_loopback_leave_the_documented_callback_rules_apply(
    url: str,
) -> None:
    async with (
        running_simulator(0.3, allow_loopback_callbacks=False) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        response = await client.post(
            "/v1/videos/generations", json={**BODY, "callback_url": url}
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "callback_url"


# --- document 002, field by field ----------------------------------------------------


async def test_unified_accepts_every_documented_field_and_records_them(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(720, 1280, "JPEG"), "image/jpeg", "ref.jpg")
    body = {
        "model": "sora-2-pro",
        "prompt": "x" * 1000,
        "aspect_ratio": "16:9",
        "image_urls": [url],
        "remove_watermark": False,
        "duration": 10,
        "callback_url": "https://bot.example.com/callbacks/x",
    }

    response = await post_create(client, "unified", body)

    assert_accepted(sim, "unified", response, body)


@pytest.mark.parametrize("duration", [10, 15])
async def test_unified_accepts_10_and_15_seconds(
    client: httpx.AsyncClient, duration: int
) -> None:
    response = await post_create(client, "unified", {**BODY, "duration": duration})

    assert response.status_code == 200, response.text
    assert response.json()["task_info"]["video_duration"] == duration


async def test_unified_refuses_25_seconds_even_with_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    body = {**BODY, "model": "sora-2-pro", "duration": 25}

    assert_refused(
        sim, "unified", await post_create(client, "unified", body), "duration"
    )


async def test_unified_refuses_a_prompt_over_1000_characters(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    body = {**BODY, "prompt": "x" * 1001}

    assert_refused(sim, "unified", await post_create(client, "unified", body), "prompt")


async def test_unified_refuses_two_image_urls(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    urls = [images.publish(image_bytes(720, 1280)) for _ in range(2)]
    body = {**BODY, "image_urls": urls}

    response = await post_create(client, "unified", body)

    assert_refused(sim, "unified", response, "image_urls")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("private", True),
        ("hd", True),
        ("watermark", False),
        ("images", []),
        ("seconds", "10"),
        ("style", "natural"),
    ],
)
async def test_unified_refuses_fields_its_document_lacks(
    sim: Simulator, client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await post_create(client, "unified", {**BODY, field: value})

    assert_refused(sim, "unified", response, field)


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.example.com/callbacks/x",
        "https://10.1.2.3/hook",
        "https://192.168.1.5/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/hook",
    ],
)
async def test_unified_refuses_http_and_internal_callbacks_even_with_loopback_leave(
    sim: Simulator, client: httpx.AsyncClient, url: str
) -> None:
    assert sim.allow_loopback_callbacks
    body = {**BODY, "callback_url": url}

    response = await post_create(client, "unified", body)

    assert_refused(sim, "unified", response, "callback_url")


async def test_unified_refuses_a_callback_url_over_2048_characters(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    url = "https://bot.example.com/" + "x" * 2030
    body = {**BODY, "callback_url": url}

    response = await post_create(client, "unified", body)

    assert_refused(sim, "unified", response, "callback_url")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/h"]
)
async def test_unified_loopback_leave_takes_plain_http_to_loopback(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await post_create(client, "unified", {**BODY, "callback_url": url})

    assert response.status_code == 200, response.text
