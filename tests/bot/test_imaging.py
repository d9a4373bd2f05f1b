"""Fitting reference images to the output size, and getting them to the provider."""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aiohttp import web
from PIL import Image, ImageDraw

from bot.capabilities import SORA_2, CapabilityProfile
from bot.errors import ConfigError, ProviderRejected, UserInputError
from bot.imaging import check_image_reachable, fit_image, prepare_image
from bot.media import MediaHost
from bot.models import (
    ChatRef,
    GenerationRequest,
    ImageInput,
    Orientation,
    Platform,
    Requester,
)
from bot.ports import PreparedImage, Submission
from bot.providers import make_provider
from bot.simulator import Simulator
from bot.web import HttpServer, build_app

RED, GREEN, BLUE, YELLOW, BLACK = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 0, 0),
)
PORTRAIT = (720, 1280)
LANDSCAPE = (1280, 720)
DISCORD_URL = "https://cdn.discordapp.com/attachments/1/2/cat.png"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def pattern(fmt: str = "PNG") -> bytes:
    """1000x1000: red left band, blue right band, yellow top band, black centre."""
    image = Image.new("RGB", (1000, 1000), GREEN)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 199, 999), fill=RED)
    draw.rectangle((800, 0, 999, 999), fill=BLUE)
    draw.rectangle((200, 0, 799, 99), fill=YELLOW)
    draw.rectangle((480, 480, 519, 519), fill=BLACK)
    return encode(image, fmt)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def close_to(actual: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    # JPEG and LANCZOS shift colours slightly; a wrong region is off by ~255.
    return all(abs(a - e) <= 40 for a, e in zip(actual, expected, strict=True))


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and has no real pixels: a bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------
# fit_image


def test_a_square_image_becomes_exactly_portrait_with_a_centred_crop():
    data, content_type = fit_image(pattern(), PORTRAIT)

    image = decode(data)
    assert (content_type, image.size) == ("image/png", PORTRAIT)
    assert image.getpixel((360, 640)) == BLACK
    # The full height is kept (yellow top band) and the sides are cut (no red/blue).
    assert image.getpixel((360, 20)) == YELLOW
    assert image.getpixel((2, 640)) == GREEN
    assert image.getpixel((717, 640)) == GREEN


def test_a_square_image_becomes_exactly_landscape_with_a_centred_crop():
    data, _ = fit_image(pattern(), LANDSCAPE)

    image = decode(data)
    assert image.size == LANDSCAPE
    assert image.getpixel((640, 360)) == BLACK
    # The full width is kept (red and blue bands) and the top is cut (no yellow).
    assert image.getpixel((10, 360)) == RED
    assert image.getpixel((1270, 360)) == BLUE
    assert image.getpixel((640, 2)) == GREEN


def test_an_image_of_the_right_size_is_returned_untouched():
    original = encode(Image.new("RGB", PORTRAIT, GREEN), "JPEG")

    data, content_type = fit_image(original, PORTRAIT)

    assert data == original
    assert content_type == "image/jpeg"


def test_a_jpeg_stays_a_jpeg():
    data, content_type = fit_image(pattern("JPEG"), PORTRAIT)

    image = Image.open(io.BytesIO(data))
    assert (content_type, image.format, image.size) == (
        "image/jpeg",
        "JPEG",
        PORTRAIT,
    )
    assert close_to(decode(data).getpixel((360, 640)), BLACK)


def test_a_webp_with_transparency_becomes_a_png_keeping_it():
    image = Image.new("RGBA", (900, 900), (*GREEN, 0))
    data, content_type = fit_image(encode(image, "WEBP", lossless=True), PORTRAIT)

    fitted = Image.open(io.BytesIO(data))
    assert (content_type, fitted.format, fitted.mode) == ("image/png", "PNG", "RGBA")
    assert fitted.getpixel((360, 640))[3] == 0


def test_an_opaque_webp_becomes_a_jpeg():
    image = Image.new("RGB", (900, 900), BLUE)

    data, content_type = fit_image(encode(image, "WEBP"), LANDSCAPE)

    assert content_type == "image/jpeg"
    assert close_to(decode(data).getpixel((640, 360)), BLUE)


def test_exif_rotation_is_applied_before_cropping():
    # Stored landscape, left half red; EXIF 6 says "turn 90° clockwise to view", so
    # the member saw a portrait picture with red on top.
    stored = Image.new("RGB", LANDSCAPE, BLUE)
    ImageDraw.Draw(stored).rectangle((0, 0, 639, 719), fill=RED)
    exif = Image.Exif()
    exif[0x0112] = 6
    original = encode(stored, "JPEG", exif=exif.tobytes())

    data, _ = fit_image(original, PORTRAIT)

    image = decode(data)
    assert data != original
    assert image.size == PORTRAIT
    assert close_to(image.getpixel((360, 100)), RED)
    assert close_to(image.getpixel((360, 1180)), BLUE)


def test_a_right_sized_image_shown_rotated_is_re_encoded_upright():
    stored = Image.new("RGB", PORTRAIT, BLUE)
    ImageDraw.Draw(stored).rectangle((0, 0, 719, 639), fill=RED)
    exif = Image.Exif()
    exif[0x0112] = 3  # "turn 180° to view": the member saw blue on top
    original = encode(stored, "JPEG", exif=exif.tobytes())

    data, _ = fit_image(original, PORTRAIT)

    image = decode(data)
    assert image.size == PORTRAIT
    assert close_to(image.getpixel((360, 100)), BLUE)
    assert close_to(image.getpixel((360, 1180)), RED)


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        pattern()[:2000],
        encode(Image.new("RGB", PORTRAIT, RED), "PNG")[:3000],
        encode(Image.new("RGB", (64, 64), RED), "GIF"),
    ],
    ids=["text", "png-garbage", "truncated", "truncated-right-size", "gif"],
)
def test_unreadable_data_is_a_friendly_user_error(data):
    with pytest.raises(UserInputError, match="could not be read"):
        fit_image(data, PORTRAIT)


@pytest.mark.parametrize(
    "size", [(20_000, 20_000), (9_000, 8_000)], ids=["pillow-limit", "our-limit"]
)
def test_decompression_bombs_are_refused_before_decoding(size):
    with pytest.raises(UserInputError, match="too many pixels"):
        fit_image(png_header(*size), PORTRAIT)


# ---------------------------------------------------------------------------------
# prepare_image and check_image_reachable


@dataclass
class StubProvider:
    """A value object with what imaging asks a provider (its profile): no network."""

    profile: CapabilityProfile
    dialect: str = "stub"


def stub(**capabilities: object) -> StubProvider:
    profile = CapabilityProfile.model_validate(
        {"dialect": "stub", "models": (SORA_2,), "size": LANDSCAPE, **capabilities}
    )
    return StubProvider(profile)


UPLOAD_FITTED = stub(image_transport="upload", image_must_match_size=True)
URL_FITTED = stub(image_transport="url", image_must_match_size=True)
URL_ANY_SIZE = stub(image_transport="url")


def request(image: ImageInput, orientation=Orientation.PORTRAIT) -> GenerationRequest:
    return GenerationRequest(
        prompt="a cat",
        orientation=orientation,
        image=image,
        requester=Requester(user_id="u1"),
        chat=ChatRef(platform=Platform.CLI),
    )


def image_input(data: bytes, source_url: str | None = None) -> ImageInput:
    return ImageInput(filename="cat.webp", data=data, source_url=source_url)


async def test_an_upload_dialect_gets_fitted_bytes_and_no_url():
    image = image_input(pattern(), source_url=DISCORD_URL)

    prepared = await prepare_image(
        image, request(image), UPLOAD_FITTED, MediaHost(None)
    )

    assert prepared.url is None
    assert decode(prepared.data).size == PORTRAIT
    assert (prepared.filename, prepared.content_type) == ("cat.png", "image/png")


async def test_an_unchanged_public_image_is_passed_by_its_platform_url():
    data = encode(Image.new("RGB", LANDSCAPE, RED), "PNG")
    image = image_input(data, source_url=DISCORD_URL)

    # No PUBLIC_URL: publishing would raise, so success proves nothing was hosted.
    prepared = await prepare_image(
        image, request(image, Orientation.LANDSCAPE), URL_FITTED, MediaHost(None)
    )

    assert prepared.url == DISCORD_URL
    assert prepared.data == data
    assert prepared.filename == "cat.webp"


async def test_a_fitted_image_is_hosted_by_the_bot_and_served_as_fitted():
    app = build_app()
    media = MediaHost("https://bot.example.org")
    media.add_routes(app)
    image = image_input(pattern(), source_url=DISCORD_URL)

    prepared = await prepare_image(image, request(image), URL_FITTED, media)

    assert prepared.url is not None
    assert prepared.url.startswith("https://bot.example.org/media/")
    async with HttpServer(app, "127.0.0.1", 0) as server, httpx.AsyncClient() as http:
        local = prepared.url.replace("https://bot.example.org", server.url)
        response = await http.get(local)
    assert response.content == prepared.data
    assert response.headers["content-type"] == prepared.content_type
    assert decode(response.content).size == PORTRAIT


async def test_a_private_image_is_hosted_even_when_unchanged():
    data = pattern("JPEG")
    image = image_input(data)

    prepared = await prepare_image(
        image, request(image), URL_ANY_SIZE, MediaHost("https://bot.example.org")
    )

    assert prepared.url is not None
    assert prepared.url.startswith("https://bot.example.org/media/")
    assert (prepared.data, prepared.content_type) == (data, "image/jpeg")


async def test_hosting_without_public_url_is_a_config_error():
    image = image_input(pattern())

    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        await prepare_image(image, request(image), URL_ANY_SIZE, MediaHost(None))


@pytest.mark.parametrize(
    ("provider", "media", "source_url"),
    [
        (UPLOAD_FITTED, MediaHost(None), None),
        (URL_ANY_SIZE, MediaHost("https://bot.example.org"), None),
        (URL_FITTED, MediaHost("https://bot.example.org"), DISCORD_URL),
        (URL_ANY_SIZE, MediaHost(None), DISCORD_URL),
    ],
    ids=["upload", "hosted", "hosted-fitted", "public-link"],
)
def test_images_the_provider_can_get_pass_the_check(provider, media, source_url):
    image = image_input(pattern(), source_url=source_url)

    check_image_reachable(image, provider, media, request=request(image))
    check_image_reachable(None, provider, media)


def test_a_right_sized_public_image_passes_without_public_url():
    image = image_input(encode(Image.new("RGB", PORTRAIT, RED), "PNG"), DISCORD_URL)

    check_image_reachable(image, URL_FITTED, MediaHost(None), request=request(image))


def test_a_private_image_without_public_url_tells_user_and_operator(caplog):
    image = image_input(pattern())

    with pytest.raises(UserInputError) as caught:
        check_image_reachable(image, URL_ANY_SIZE, MediaHost(None))

    assert "not at a public link" in caught.value.user_message
    assert "without the image" in caught.value.user_message
    [record] = [r for r in caplog.records if r.name == "bot.imaging"]
    assert record.levelno == logging.WARNING
    assert "PUBLIC_URL" in record.getMessage()
    assert "stub dialect" in record.getMessage()


def test_a_public_image_that_must_be_resized_names_the_size_that_would_work():
    image = image_input(pattern(), source_url=DISCORD_URL)

    with pytest.raises(UserInputError, match="exactly 720x1280 pixels"):
        check_image_reachable(
            image, URL_FITTED, MediaHost(None), request=request(image)
        )


def test_without_the_request_an_image_to_fit_is_assumed_to_need_hosting():
    image = image_input(encode(Image.new("RGB", PORTRAIT, RED), "PNG"), DISCORD_URL)

    with pytest.raises(UserInputError, match="must be resized"):
        check_image_reachable(image, URL_FITTED, MediaHost(None))


# ---------------------------------------------------------------------------------
# End to end: the real provider clients and the simulator, which fetches URL images
# from the bot's HTTP server and refuses a wrong size the way the relays do.


@pytest.fixture
async def media_server() -> AsyncIterator[MediaHost]:
    """A MediaHost whose PUBLIC_URL is its own server on loopback."""
    # The socket is bound first so PUBLIC_URL is known before the router freezes.
    sock = socket.create_server(("127.0.0.1", 0))
    app = build_app()
    media = MediaHost(f"http://127.0.0.1:{sock.getsockname()[1]}")
    media.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield media
    finally:
        await runner.cleanup()


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    async with Simulator(duration=0.3) as sim, httpx.AsyncClient() as http:
        yield sim, http


@pytest.mark.parametrize("dialect", ["v2", "sora", "unified", "video-create"])
async def test_url_dialects_fetch_the_prepared_image_from_the_bot(
    dialect, media_server, simulator
):
    sim, http = simulator
    provider = make_provider(dialect, base_url=sim.base_url, api_key=None, client=http)
    image = image_input(pattern())  # private, as a Slack file is
    model = provider.profile.models[0]
    ask = request(image).model_copy(
        update={"model": model.name, "seconds": model.seconds[-1]}
    )

    prepared = await prepare_image(image, ask, provider, media_server)
    await provider.create(Submission(request=ask, image=prepared))

    [fetched] = sim.requests[-1].fetched.values()
    assert fetched.sha256 == hashlib.sha256(prepared.data).hexdigest()
    if provider.profile.image_must_match_size:
        assert (fetched.width, fetched.height) == PORTRAIT


async def test_the_openai_dialect_receives_the_fitted_upload(simulator):
    sim, http = simulator
    provider = make_provider("openai", base_url=sim.base_url, api_key=None, client=http)
    image = image_input(pattern(), source_url=DISCORD_URL)
    ask = request(image, Orientation.LANDSCAPE)

    prepared = await prepare_image(image, ask, provider, MediaHost(None))
    await provider.create(Submission(request=ask, image=prepared))

    part = sim.requests[-1].body["input_reference"]
    assert (part.width, part.height) == LANDSCAPE
    assert part.sha256 == hashlib.sha256(prepared.data).hexdigest()


async def test_without_fitting_the_relay_would_refuse_the_image(
    media_server, simulator
):
    # The control for the tests above: the simulator really checks the size.
    sim, http = simulator
    provider = make_provider("sora", base_url=sim.base_url, api_key=None, client=http)
    image = image_input(pattern())
    unfitted = PreparedImage(
        filename="cat.png",
        content_type="image/png",
        data=image.data,
        url=media_server.publish(image.data, "image/png"),
    )

    ask = request(image).model_copy(update={"model": "turbo"})

    with pytest.raises(ProviderRejected, match="must match"):
        await provider.create(Submission(request=ask, image=unfitted))
