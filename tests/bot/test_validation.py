"""Every validation rule, with the sentence the member sees."""

from __future__ import annotations

import pytest

from bot.capabilities import HD_SIZE, SORA_2, SORA_2_PRO, CapabilityProfile
from bot.errors import UserInputError
from bot.validation import (
    MAX_IMAGE_BYTES,
    sniff_image_type,
    validate_image,
    validate_request,
)
from tests.fakes.tasks import make_image, make_request, png_bytes

PROFILE = CapabilityProfile(
    dialect="test",
    models=(SORA_2, SORA_2_PRO),
    hd_size=HD_SIZE,
    styles=("anime", "comic"),
)
# A second provider in priority order: 5-second videos, no HD, no styles.
SHORT = CapabilityProfile(
    dialect="short", models=(SORA_2.model_copy(update={"seconds": (5, 10)}),)
)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def reject(message: str, **fields: object) -> None:
    with pytest.raises(UserInputError, match=message):
        validate_request(make_request(**fields), [PROFILE])


@pytest.mark.parametrize(
    ("model", "seconds", "hd"),
    [
        ("sora-2", 10, False),
        ("sora-2", 15, False),
        ("sora-2-pro", 10, True),
        ("sora-2-pro", 15, True),
        ("sora-2-pro", 25, False),
    ],
)
def test_valid_combinations_pass(model: str, seconds: int, hd: bool) -> None:
    request = make_request(model=model, seconds=seconds, hd=hd, style="anime")

    validate_request(request, [PROFILE])


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_refused(prompt: str) -> None:
    reject("The prompt is empty", prompt=prompt)


def test_prompt_of_1000_characters_passes_and_1001_does_not() -> None:
    validate_request(make_request("x" * 1000), [PROFILE])

    reject("1001 characters; the limit is 1000", prompt="x" * 1001)


def test_unknown_model_lists_the_known_ones() -> None:
    reject(r"Unknown model `sora-3`\. Choose sora-2 or sora-2-pro\.", model="sora-3")


def test_25_seconds_needs_sora_2_pro() -> None:
    reject("25-second videos need sora-2-pro", seconds=25)


def test_duration_no_model_offers_lists_the_durations() -> None:
    reject("sora-2 makes 10 or 15-second videos, not 12", seconds=12)


def test_hd_needs_sora_2_pro() -> None:
    reject("HD videos need sora-2-pro", hd=True)


def test_hd_at_25_seconds_is_refused_as_having_no_effect() -> None:
    reject(
        r"HD has no effect at 25 s with sora-2-pro; it works at 10 or 15 s\.",
        model="sora-2-pro",
        seconds=25,
        hd=True,
    )


def test_a_profile_without_hd_refuses_hd() -> None:
    with pytest.raises(UserInputError, match="does not make HD videos"):
        validate_request(make_request(hd=True), [SHORT])


def test_unknown_style_lists_the_styles() -> None:
    reject(r"Unknown style `noir`\. Choose `anime` or `comic`\.", style="noir")


def test_a_profile_without_styles_refuses_a_style() -> None:
    with pytest.raises(UserInputError, match="has no styles"):
        validate_request(make_request(style="anime"), [SHORT])


def test_a_profile_without_private_refuses_a_private_request() -> None:
    reject("cannot keep videos unpublished", private=True)


def test_a_request_one_of_several_providers_can_make_passes() -> None:
    validate_request(make_request(seconds=5), [PROFILE, SHORT])
    validate_request(make_request(style="anime"), [SHORT, PROFILE])


def test_when_no_provider_can_the_first_ones_reason_is_given() -> None:
    request = make_request(seconds=25, model="sora-2")

    with pytest.raises(UserInputError, match="25-second videos need sora-2-pro"):
        validate_request(request, [PROFILE, SHORT])
    with pytest.raises(UserInputError, match="sora-2 makes 5 or 10-second videos"):
        validate_request(request, [SHORT, PROFILE])


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
