"""The /sora and /sora-admin syntax, and reading the form back."""

from __future__ import annotations

import pytest

from adapters.slack.blocks import generation_modal
from adapters.slack.convert import (
    SlackFile,
    build_request,
    check_image_file,
    pick_image,
    read_generation_view,
    slack_chat,
)
from adapters.slack.parsing import (
    CommandSyntaxError,
    LimitCommand,
    PrivateCommand,
    ShowSettings,
    parse_admin,
    parse_command,
)
from bot.capabilities import Offer
from bot.errors import UserInputError
from bot.models import Orientation, Requester
from bot.providers import PROVIDERS

# What each dialect's document offers, as a one-provider bot would.
OFFERS = {d: Offer.of([cls.profile]) for d, cls in PROVIDERS.items()}
V2 = OFFERS["v2"]


def parse(text: str, offer: Offer = V2):
    return parse_command(text, offer)


def test_flags_anywhere_are_taken_out_of_the_prompt():
    options = parse("a corgi --pro surfing --portrait --15s at sunset --hd")

    assert options.prompt == "a corgi surfing at sunset"
    assert options.pro
    assert options.orientation is Orientation.PORTRAIT
    assert options.seconds == 15
    assert options.hd
    assert not options.private


def test_smart_dashes_typed_by_macos_still_count_as_flags():
    options = parse("a corgi \u2014private \u2013pro")

    assert options.prompt == "a corgi"
    assert options.private
    assert options.pro


def test_unknown_flag_is_refused_with_the_syntax():
    with pytest.raises(CommandSyntaxError) as refused:
        parse("a corgi --fast")

    assert "`--fast`" in refused.value.user_message
    assert "/sora <prompt>" in refused.value.user_message


@pytest.mark.parametrize(
    ("dialect", "flag", "why", "works"),
    [
        ("sora", "--15s", "videos here are 5 or 10 seconds long", "[--5s|--10s]"),
        ("unified", "--25s", "videos here are 10 or 15 seconds long", "[--10s|--15s]"),
        ("openai", "--25s", "10 or 15 seconds", "[--10s|--15s]"),
        ("v2", "--5s", "10, 15 or 25 seconds", "[--10s|--15s|--25s]"),
        ("sora", "--hd", "does not make HD videos", "[--portrait]"),
        ("unified", "--hd", "does not make HD videos", "[--pro]"),
        ("sora", "--pro", "offers no pro model", "[--portrait]"),
        ("openai", "--private", "cannot keep videos unpublished", "[--hd]"),
        ("unified", "--private", "cannot keep videos unpublished", "[--pro]"),
    ],
)
def test_a_flag_no_provider_offers_is_refused_with_the_syntax_that_works(
    dialect, flag, why, works
):
    with pytest.raises(CommandSyntaxError) as refused:
        parse(f"a corgi {flag}", OFFERS[dialect])

    message = refused.value.user_message
    assert f"`{flag}` is not available here: " in message
    assert why in message
    usage = message.split("Usage: ", 1)[1]
    assert works in usage
    assert flag not in usage.split("\n")[0]


@pytest.mark.parametrize(
    ("dialect", "text"),
    [
        ("sora", "a corgi --5s --portrait"),
        ("v2", "a corgi --pro --25s --hd --private"),
        ("video-create", "a corgi --pro --25s --private"),
        ("openai", "a corgi --pro --hd --15s"),
    ],
)
def test_flags_a_provider_offers_are_taken(dialect, text):
    assert parse(text, OFFERS[dialect]).prompt == "a corgi"


def test_dashes_inside_words_stay_in_the_prompt():
    options = parse("a well-known cat -- jumping")

    assert options.prompt == "a well-known cat -- jumping"


def test_only_flags_leaves_an_empty_prompt_for_the_form():
    assert parse("--pro").prompt == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ShowSettings()),
        ("private on", PrivateCommand(True)),
        ("private OFF <#C123|general>", PrivateCommand(False, "C123")),
        ("limit 5", LimitCommand(5)),
    ],
)
def test_admin_commands(text, expected):
    assert parse_admin(text) == expected


@pytest.mark.parametrize(
    "text", ["private", "private maybe", "limit x", "limit 0", "x"]
)
def test_bad_admin_commands_are_refused(text):
    with pytest.raises(CommandSyntaxError):
        parse_admin(text)


def test_plain_channel_name_is_refused_because_slack_did_not_link_it():
    with pytest.raises(CommandSyntaxError, match="not a channel"):
        parse_admin("private on #general")


def _request(text: str):
    return build_request(
        parse(text),
        offer=V2,
        default_model="sora-2",
        requester=Requester(user_id="U1"),
        chat=slack_chat("T1", "C1"),
    )


def test_pro_flag_picks_the_pro_model_and_its_first_length():
    request = _request("a corgi --pro")

    assert request.model == "sora-2-pro"
    assert request.seconds == 10


def test_default_request_uses_the_default_model():
    request = _request("a corgi")

    assert (request.model, request.chat.workspace_id, request.chat.channel_id) == (
        "sora-2",
        "T1",
        "C1",
    )


def test_form_reads_back_what_was_chosen():
    view = generation_modal({"channel": "C9"}, OFFERS["video-create"], "sora-2")
    file = {"id": "F1", "name": "cat.png", "mimetype": "image/png", "size": 10}
    values = {
        "prompt": {"value": {"value": "  a cat  "}},
        "model": {"value": {"selected_option": {"value": "sora-2-pro"}}},
        "seconds": {"value": {"selected_option": {"value": "25"}}},
        "orientation": {"value": {"selected_option": {"value": "portrait"}}},
        "extras": {"value": {"selected_options": [{"value": "hd"}]}},
        "style": {"value": {"selected_option": {"value": "anime"}}},
        "image": {"value": {"files": [{**file, "url_private": "https://x/cat.png"}]}},
    }

    form = read_generation_view({**view, "state": {"values": values}})

    assert form.options.prompt == "a cat"
    assert form.options.model == "sora-2-pro"
    assert form.options.seconds == 25
    assert form.options.orientation is Orientation.PORTRAIT
    assert form.options.hd
    assert form.options.style == "anime"
    assert not form.options.private
    assert form.file is not None
    assert form.file.url == "https://x/cat.png"
    assert form.metadata == {"channel": "C9"}


def test_form_falls_back_to_the_shortcut_image_in_its_metadata():
    image = SlackFile("F2", "dog.jpg", "image/jpeg", "jpg", 5, "https://x/dog.jpg")
    view = generation_modal(
        {"channel": "C1", "image": image.as_payload()}, V2, "sora-2"
    )
    values = {"prompt": {"value": {"value": "a dog"}}}

    form = read_generation_view({**view, "state": {"values": values}})

    assert form.file == image


def _blocks(view) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def _options(block) -> list[str]:
    return [o["value"] for o in block["element"]["options"]]


@pytest.mark.parametrize(
    ("dialect", "models", "seconds", "extras", "styles"),
    [
        ("v2", ["sora-2", "sora-2-pro"], ["10", "15", "25"], ["hd", "private"], None),
        ("sora", ["turbo"], ["5", "10"], None, ["natural"]),
        ("unified", ["sora-2", "sora-2-pro"], ["10", "15"], None, None),
        ("openai", ["sora-2", "sora-2-pro"], ["10", "15"], ["hd"], None),
        (
            "video-create",
            ["sora-2", "sora-2-pro"],
            ["10", "15", "25"],
            ["hd", "private"],
            ["thanksgiving", "comic", "news", "selfie", "nostalgic", "anime"],
        ),
    ],
)
def test_the_form_offers_only_what_the_dialect_can_do(
    dialect, models, seconds, extras, styles
):
    offer = OFFERS[dialect]
    view = generation_modal({"channel": "C1"}, offer, offer.model_names[0])

    blocks = _blocks(view)
    assert _options(blocks["model"]) == models
    assert _options(blocks["seconds"]) == seconds
    assert blocks["seconds"]["element"]["initial_option"]["value"] == seconds[0]
    assert (_options(blocks["extras"]) if "extras" in blocks else None) == extras
    assert (_options(blocks["style"]) if "style" in blocks else None) == styles


def test_pick_image_skips_files_that_are_not_pictures():
    files = [
        {"id": "F1", "name": "notes.pdf", "mimetype": "application/pdf"},
        {"id": "F2", "name": "cat.webp", "mimetype": "image/webp", "filetype": "webp"},
    ]

    picked = pick_image(files)

    assert picked is not None
    assert picked.id == "F2"


@pytest.mark.parametrize(
    ("mimetype", "size", "message"),
    [
        ("application/pdf", 100, "not a JPEG, PNG or WebP"),
        ("image/png", 11 * 1024 * 1024, "at most 10 MB"),
    ],
)
def test_files_slack_already_describes_as_unusable_are_refused(mimetype, size, message):
    file = SlackFile("F1", "x", mimetype, "", size, "https://x/x")

    with pytest.raises(UserInputError, match=message):
        check_image_file(file)
