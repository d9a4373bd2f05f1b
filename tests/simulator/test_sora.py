"""The sora dialect: raw Sora body, new-api envelope, inpaint size rule."""

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
        ({"width": "1280"}, "width"),
        ({"n_frames": 250}, "n_frames"),
        ({"n_frames": "300"}, "n_frames"),
        ({"type": "image_gen"}, "type"),
        ({"operation": "extend"}, "operation"),
        ({"inpaint_items": [{"type": "image"}]}, "inpaint_items[0].url"),
        ({"inpaint_items": [{"url": "x", "kind": 1}]}, "inpaint_items[0].kind"),
        ({"actions": [{"time": "0", "description": "x"}]}, "actions[0].time"),
        ({"sdedit": {"amount": 9, "source_generation_id": "g"}}, "sdedit.amount"),
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


# --- document 001, field by field ----------------------------------------------------

SIZES = [(480, 480), (720, 720), (480, 854), (854, 480), (1280, 720), (720, 1280)]


async def finished_generation(client: httpx.AsyncClient) -> tuple[str, str]:
    """A finished task's id and the id of its video, as its status answer gives it."""
    task_id = (await post_create(client, "sora", BODY)).json()["data"]
    answers = await poll(client, f"/sora/v1/videos/{task_id}", done)
    assert answers[-1]["data"]["status"] == "SUCCESS"
    return task_id, answers[-1]["data"]["data"]["generations"][0]["id"]


def remix_of(generation: str) -> dict[str, Any]:
    return {
        **BODY,
        "prompt": "the same lighthouse, at dawn",
        "operation": "remix",
        "sdedit": {"amount": 3, "source_generation_id": generation},
    }


async def test_sora_accepts_every_documented_field_and_records_them(
    sim: Simulator, client: httpx.AsyncClient, images: ImageHost
) -> None:
    url = images.publish(image_bytes(1280, 720))
    body = {
        **BODY,
        "actions": [{"time": 0, "description": "the waves rise"}],
        "inpaint_items": [
            {
                "type": "image",
                "url": url,
                "frame_index": 0,
                "preset_id": None,
                "generation_id": None,
                "source_start_frame": 0,
                "source_end_frame": 0,
            }
        ],
        "notify_hook": "https://bot.example.com/callbacks/x",
    }

    response = await post_create(client, "sora", body)

    assert_accepted(sim, "sora", response, body)


async def test_sora_accepts_n_frames_150_as_a_5_second_video(
    client: httpx.AsyncClient,
) -> None:
    created = await post_create(client, "sora", {**BODY, "n_frames": 150})

    answers = await poll(client, f"/sora/v1/videos/{created.json()['data']}", done)

    upstream = answers[-1]["data"]["data"]
    assert upstream["n_frames"] == 150
    assert upstream["generations"][0]["n_frames"] == 150


@pytest.mark.parametrize(("width", "height"), SIZES, ids=lambda v: str(v))
async def test_sora_accepts_each_documented_size(
    client: httpx.AsyncClient, width: int, height: int
) -> None:
    body = {**BODY, "width": width, "height": height}

    response = await post_create(client, "sora", body)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("operation", ["simple_compose", "storyboard", "blend"])
async def test_sora_accepts_the_documented_operations_and_echoes_them(
    client: httpx.AsyncClient, operation: str
) -> None:
    created = await post_create(client, "sora", {**BODY, "operation": operation})

    answer = (await client.get(f"/sora/v1/videos/{created.json()['data']}")).json()
    assert answer["data"]["data"]["operation"] == operation


async def test_sora_refuses_n_frames_450(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "sora", {**BODY, "n_frames": 450})

    assert_refused(sim, "sora", response, "n_frames")
    assert "150 (5 s), 300 (10 s)" in response.json()["message"]


async def test_sora_refuses_n_frames_750(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "sora", {**BODY, "n_frames": 750})

    assert_refused(sim, "sora", response, "n_frames")


@pytest.mark.parametrize(
    ("width", "height"), [(1792, 1024), (1024, 1792), (1920, 1080), (720, 480)]
)
async def test_sora_refuses_sizes_outside_the_documented_six(
    sim: Simulator, client: httpx.AsyncClient, width: int, height: int
) -> None:
    body = {**BODY, "width": width, "height": height}

    assert_refused(sim, "sora", await post_create(client, "sora", body), "width")


@pytest.mark.parametrize("model", ["sora-2", "sora-2-pro"])
async def test_sora_refuses_a_model_other_than_turbo(
    sim: Simulator, client: httpx.AsyncClient, model: str
) -> None:
    response = await post_create(client, "sora", {**BODY, "model": model})

    assert_refused(sim, "sora", response, "model")


async def test_sora_refuses_a_style_other_than_natural(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "sora", {**BODY, "style": "anime"})

    assert_refused(sim, "sora", response, "style")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("private", True),
        ("hd", True),
        ("watermark", False),
        ("duration", 10),
        ("aspect_ratio", "16:9"),
    ],
)
async def test_sora_refuses_fields_its_document_lacks(
    sim: Simulator, client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await post_create(client, "sora", {**BODY, field: value})

    assert_refused(sim, "sora", response, field)


async def test_sora_remix_of_a_finished_generation_is_accepted_as_a_remix(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    _, generation = await finished_generation(client)

    response = await post_create(client, "sora", remix_of(generation))

    assert response.status_code == 200, response.text
    assert sim.requests[-1].body["sdedit"]["source_generation_id"] == generation
    answer = (await client.get(f"/sora/v1/videos/{response.json()['data']}")).json()
    assert answer["data"]["data"]["operation"] == "remix"


async def test_sora_remix_is_accepted_by_a_restarted_simulator(
    client: httpx.AsyncClient,
) -> None:
    _, generation = await finished_generation(client)

    async with (
        running_simulator(0.4) as restarted,
        httpx.AsyncClient(base_url=restarted.base_url) as again,
    ):
        response = await post_create(again, "sora", remix_of(generation))

    assert response.status_code == 200, response.text


async def test_sora_refuses_remix_without_sdedit(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "sora", {**BODY, "operation": "remix"})

    assert_refused(sim, "sora", response, "sdedit")


async def test_sora_refuses_remix_of_a_task_id_instead_of_a_generation(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    task_id, _ = await finished_generation(client)

    response = await post_create(client, "sora", remix_of(task_id))

    assert_refused(sim, "sora", response, "sdedit.source_generation_id")


async def test_sora_refuses_remix_of_a_generation_it_never_made(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "sora", remix_of("gen_01jhjp54x0f759wceyasz"))

    assert_refused(sim, "sora", response, "sdedit.source_generation_id")


async def test_sora_refuses_remix_of_an_unfinished_generation(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    task_id = (await post_create(client, "sora", BODY)).json()["data"]
    unfinished = "gen_" + task_id.removeprefix("task_")

    response = await post_create(client, "sora", remix_of(unfinished))

    assert_refused(sim, "sora", response, "sdedit.source_generation_id")


async def test_sora_refuses_remix_of_a_failed_generation(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("moderation_prompt")
    task_id = (await post_create(client, "sora", BODY)).json()["data"]
    failed = "gen_" + task_id.removeprefix("task_")

    response = await post_create(client, "sora", remix_of(failed))

    assert_refused(sim, "sora", response, "sdedit.source_generation_id")
