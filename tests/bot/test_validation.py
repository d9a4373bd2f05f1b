"""Every validation rule, with the sentence the member sees."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_MODELS, ModelSpec
from bot.errors import UserInputError
from bot.ports import ProviderFeatures
from bot.validation import (
    MAX_IMAGE_BYTES,
    sniff_image_type,
    validate_image,
    validate_request,
)
from tests.fakes.tasks import make_image, make_request, png_bytes

FEATURES = ProviderFeatures(
    image_transport="upload", hd=True, max_seconds=25, styles=("anime", "comic")
)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def reject(message: str, **fields: object) -> None:
    with pytest.raises(UserInputError, match=message):
        validate_request(make_request(**fields), DEFAULT_MODELS, FEATURES)


@pytest.mark.parametrize(
    ("model", "seconds", "hd"),
    [
        ("sora-2", 10, False),
        ("sora-2", 15, False),
        ("sora-2-pro", 10, True),
        ("sora-2-pro", 15, True),
        ("sora-2-pro", 25, False),
        ("sora-2-pro", 25, True),  # accepted; HD simply has no effect at 25 s
    ],
)
def test_valid_combinations_pass(model: str, seconds: int, hd: bool) -> None:
    request = make_request(model=model, seconds=seconds, hd=hd, style="anime")

    validate_request(request, DEFAULT_MODELS, FEATURES)


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_refused(prompt: str) -> None:
    reject("The prompt is empty", prompt=prompt)


def test_prompt_of_1000_characters_passes_and_1001_does_not() -> None:
    validate_request(make_request("x" * 1000), DEFAULT_MODELS, FEATURES)

    reject("1001 characters; the limit is 1000", prompt="x" * 1001)


def test_unknown_model_lists_the_known_ones() -> None:
    reject(
        "Unknown model `sora-3`. Choose one of `sora-2`, `sora-2-pro`", model="sora-3"
    )


def test_25_seconds_needs_sora_2_pro() -> None:
    reject("25-second videos need sora-2-pro", seconds=25)


def test_duration_no_model_offers_lists_the_durations() -> None:
    reject("sora-2 makes 10 or 15-second videos, not 12", seconds=12)


def test_hd_needs_sora_2_pro() -> None:
    reject("HD videos need sora-2-pro", hd=True)


def test_renamed_models_come_from_configuration() -> None:
    models = (ModelSpec(name="relay-fast", seconds=(5,)),)

    validate_request(make_request(model="relay-fast", seconds=5), models)
    with pytest.raises(UserInputError, match="Unknown model `sora-2`"):
        validate_request(make_request(), models)


def test_dialect_without_hd_refuses_hd() -> None:
    features = FEATURES.model_copy(update={"hd": False})

    with pytest.raises(UserInputError, match="does not offer HD"):
        validate_request(
            make_request(model="sora-2-pro", hd=True), DEFAULT_MODELS, features
        )


def test_dialect_max_seconds_is_enforced() -> None:
    features = FEATURES.model_copy(update={"max_seconds": 15})

    with pytest.raises(UserInputError, match="at most 15 seconds"):
        validate_request(
            make_request(model="sora-2-pro", seconds=25), DEFAULT_MODELS, features
        )


def test_unknown_style_lists_the_styles() -> None:
    reject("Unknown style `noir`. Choose one of `anime`, `comic`", style="noir")


def test_dialect_without_styles_refuses_a_style() -> None:
    features = FEATURES.model_copy(update={"styles": ()})

    with pytest.raises(UserInputError, match="does not offer styles"):
        validate_request(make_request(style="anime"), DEFAULT_MODELS, features)


@pytest.mark.parametrize(
    ("data", "mime"),
    [(png_bytes(), "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
)
def test_images_are_recognised_by_their_bytes(data: bytes, mime: str) -> None:
    assert validate_image(make_image(filename="whatever.txt", data=data)) == mime


def test_image_named_png_that_is_not_an_image_is_refused() -> None:
    image = make_image(filename="cat.png", data=b"GIF89a" + b"\x00" * 10)

    with pytest.raises(UserInputError, match=r"`cat\.png` is not a JPEG, PNG or WebP"):
        validate_image(image)
    assert sniff_image_type(b"GIF89a") is None


def test_empty_image_is_refused() -> None:
    reject("is empty", image=make_image(data=b""))


def test_image_of_10_mb_passes_and_larger_does_not() -> None:
    exactly = make_image(data=JPEG + b"\x00" * (MAX_IMAGE_BYTES - len(JPEG)))
    validate_image(exactly)

    reject(
        r"is 10\.0 MB; reference images can be at most 10 MB",
        image=make_image(data=exactly.data + b"\x00"),
    )
