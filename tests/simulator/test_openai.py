"""The openai dialect: multipart create, video object, /content, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from bot.simulator import FileRecord, Simulator, sample_video
from tests.fakes.provider import image_bytes, running_simulator
from tests.simulator.helpers import (
    Receiver,
    assert_refused,
    poll,
    post_create,
    wait_for,
)

FORM = {"model": "sora-2", "prompt": "a corgi surfing", "size": "1280x720"}


async def create(
    client: httpx.AsyncClient, form: dict[str, str], **files: tuple[str, bytes, str]
) -> httpx.Response:
    """Always multipart, as relays require (bare ``data=`` is sent urlencoded)."""
    return await post_create(client, "openai", form, files)


async def test_text_to_video_runs_queued_to_completed_and_serves_the_mp4(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, {**FORM, "seconds": "10"})

    assert created.status_code == 200
    video = created.json()
    assert video["object"] == "video"
    assert video["id"].startswith("video_")
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert (video["seconds"], video["size"], video["model"]) == (
        "10",
        "1280x720",
        "sora-2",
    )
    answers = await poll(
        client, f"/v1/videos/{video['id']}", lambda a: a["status"] == "completed"
    )
    statuses = [a["status"] for a in answers]
    assert "in_progress" in statuses
    progress = [a["progress"] for a in answers]
    assert progress == sorted(progress)
    assert answers[-1]["progress"] == 100
    assert answers[-1]["expires_at"] > answers[-1]["completed_at"]
    assert "video_url" not in answers[-1]  # official shape: only /content
    content = await client.get(f"/v1/videos/{video['id']}/content")
    assert content.headers["content-type"] == "video/mp4"
    assert content.content == sample_video()
    assert content.content[4:8] == b"ftyp"


async def test_image_to_video_records_the_file_part(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    image = image_bytes(1280, 720)

    response = await create(
        client,
        {**FORM, "watermark": "false"},
        input_reference=("cat.png", image, "image/png"),
    )

    assert response.status_code == 200
    (recorded,) = sim.requests
    assert recorded.multipart
    assert recorded.body["prompt"] == "a corgi surfing"
    assert recorded.body["watermark"] == "false"
    assert recorded.body["input_reference"] == FileRecord(
        filename="cat.png",
        content_type="image/png",
        size=len(image),
        sha256=hashlib.sha256(image).hexdigest(),
        width=1280,
        height=720,
    )
    assert recorded.task_id == response.json()["id"]
    assert "authorization" not in recorded.headers


async def test_reference_image_of_another_size_is_refused(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await create(
        client, FORM, input_reference=("cat.png", image_bytes(720, 1280), "image/png")
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Inpaint image must match the requested width and height"
    assert error["param"] == "input_reference"
    assert sim.requests[0].status == 400
    assert sim.requests[0].task_id is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"prompt": "x"}, "model"),
        ({"model": "sora-2"}, "prompt"),
        ({"model": "sora-3", "prompt": "x"}, "model"),
        ({"model": "sora-2", "prompt": "x", "size": "1920x1080"}, "size"),
        ({"model": "sora-2", "prompt": "x", "seconds": "20"}, "seconds"),
        ({"model": "sora-2", "prompt": "x", "watermark": "yes"}, "watermark"),
        ({"model": "sora-2", "prompt": "x", "duration": "10"}, "duration"),
        ({"model": "sora-2", "prompt": "x", "input_reference": "http://a/b.png"},
         "input_reference"),
    ],
)  # fmt: skip
async def test_bad_forms_are_refused_naming_the_field(
    client: httpx.AsyncClient, form: dict[str, str], field: str
) -> None:
    response = await create(client, form)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field
    assert field in error["message"]
    assert error["type"] == "invalid_request_error"


async def test_bodies_other_than_multipart_are_refused(
    client: httpx.AsyncClient,
) -> None:
    as_json = await client.post("/v1/videos", json=FORM)
    urlencoded = await client.post("/v1/videos", data=FORM)

    for response in (as_json, urlencoded):
        assert response.status_code == 400
        assert "multipart/form-data" in response.json()["error"]["message"]


async def test_unknown_video_is_404_and_unfinished_content_is_not_served(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/v1/videos/video_nope")
    video_id = (await create(client, FORM)).json()["id"]
    early = await client.get(f"/v1/videos/{video_id}/content")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "video_not_found"
    assert early.status_code == 404
    assert early.json()["error"]["code"] == "video_not_ready"


async def test_moderation_fails_in_band_after_passing_90_percent(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("moderation")
    video_id = (await create(client, FORM)).json()["id"]

    answers = await poll(
        client, f"/v1/videos/{video_id}", lambda a: a["status"] == "failed",
        interval=0.01,
    )  # fmt: skip

    assert max(a["progress"] for a in answers) > 90
    error = answers[-1]["error"]
    assert error["code"] == "moderation_blocked"
    assert "generated video did not pass review" in error["message"]


async def test_video_url_fault_gives_the_relay_variant(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("video_url")
    video_id = (await create(client, FORM)).json()["id"]

    answers = await poll(
        client, f"/v1/videos/{video_id}", lambda a: a["status"] == "completed"
    )

    download = await client.get(answers[-1]["video_url"])
    assert download.content == sample_video()


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written from the spec, independent of ours."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(sig.split(",", 1)[1].encode(), expected)
        for sig in headers["webhook-signature"].split()
    )


async def test_project_webhook_is_signed_and_retried_until_accepted() -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    async with (
        Receiver(statuses=(500,)) as receiver,
        running_simulator(
            0.3,
            webhook_url=receiver.url,
            webhook_secret=secret,
            callback_retry_delays=(0.05, 0.1, 0.2),
        ) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        video_id = (await create(client, FORM)).json()["id"]
        await wait_for(lambda: len(receiver.received) == 2)

    first, second = receiver.received
    for headers, body in receiver.received:
        assert verify_standard_webhook(secret, headers, body)
        event = json.loads(body)
        assert event["type"] == "video.completed"
        assert event["object"] == "event"
        assert event["data"] == {"id": video_id}
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    assert [c.status for c in sim.callbacks_sent] == [500, 200]
    assert [c.attempt for c in sim.callbacks_sent] == [1, 2]


async def test_failed_video_sends_a_video_failed_webhook_with_a_raw_secret() -> None:
    async with (
        Receiver() as receiver,
        running_simulator(
            0.3, webhook_url=receiver.url, webhook_secret="plain-secret"
        ) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        sim.inject("moderation_prompt")
        await create(client, FORM)
        await wait_for(lambda: len(receiver.received) == 1)

    headers, body = receiver.received[0]
    assert json.loads(body)["type"] == "video.failed"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = hmac.new(b"plain-secret", signed, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


# --- document 003, field by field ----------------------------------------------------


async def test_openai_accepts_every_documented_field_and_records_them(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    image = image_bytes(1024, 1792)
    form = {
        "model": "sora-2-pro",
        "prompt": "a corgi surfing",
        "size": "1024x1792",
        "seconds": "15",
        "watermark": "true",
    }
    files = {"input_reference": ("ref.png", image, "image/png")}

    response = await post_create(client, "openai", form, files)

    assert response.status_code == 200, response.text
    video = response.json()
    assert (video["model"], video["size"], video["seconds"]) == (
        "sora-2-pro",
        "1024x1792",
        "15",
    )
    recorded = sim.requests[-1].body
    assert {k: v for k, v in recorded.items() if k != "input_reference"} == form
    assert recorded["input_reference"].sha256 == hashlib.sha256(image).hexdigest()


@pytest.mark.parametrize("size", ["1280x720", "720x1280"])
async def test_openai_accepts_the_standard_sizes_on_sora_2(
    client: httpx.AsyncClient, size: str
) -> None:
    response = await post_create(client, "openai", {**FORM, "size": size})

    assert response.status_code == 200, response.text
    assert response.json()["size"] == size


@pytest.mark.parametrize("size", ["1280x720", "720x1280", "1792x1024", "1024x1792"])
async def test_openai_accepts_all_four_sizes_on_sora_2_pro(
    client: httpx.AsyncClient, size: str
) -> None:
    form = {**FORM, "model": "sora-2-pro", "size": size}

    response = await post_create(client, "openai", form)

    assert response.status_code == 200, response.text


async def test_openai_defaults_to_720x1280_and_4_seconds(
    client: httpx.AsyncClient,
) -> None:
    form = {"model": "sora-2", "prompt": "a corgi surfing"}

    video = (await post_create(client, "openai", form)).json()

    assert (video["size"], video["seconds"]) == ("720x1280", "4")


async def test_openai_refuses_private_field(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "openai", {**FORM, "private": "true"})

    assert_refused(sim, "openai", response, "private")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hd", "true"),
        ("duration", "10"),
        ("aspect_ratio", "16:9"),
        ("style", "natural"),
        ("remove_watermark", "false"),
    ],
)
async def test_openai_refuses_fields_its_document_lacks(
    sim: Simulator, client: httpx.AsyncClient, field: str, value: str
) -> None:
    response = await post_create(client, "openai", {**FORM, field: value})

    assert_refused(sim, "openai", response, field)


@pytest.mark.parametrize("size", ["1792x1024", "1024x1792"])
async def test_openai_refuses_the_large_sizes_without_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient, size: str
) -> None:
    response = await post_create(client, "openai", {**FORM, "size": size})

    assert_refused(sim, "openai", response, "size")
    assert "sora-2-pro" in response.json()["error"]["message"]


async def test_openai_refuses_25_seconds_without_sora_2_pro(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await post_create(client, "openai", {**FORM, "seconds": "25"})

    assert_refused(sim, "openai", response, "seconds")


async def test_openai_refuses_seconds_as_a_file_part(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    files = {"seconds": ("seconds.txt", b"10", "text/plain")}

    response = await post_create(client, "openai", FORM, files)

    assert_refused(sim, "openai", response, "seconds")
