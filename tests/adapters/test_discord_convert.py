"""What a Discord interaction's values become before the core sees them."""

from __future__ import annotations

import pytest

from adapters.discord import convert
from bot.errors import UserInputError
from bot.models import Orientation, Platform, Requester


def test_attachment_that_is_not_an_image_is_refused_by_its_content_type():
    with pytest.raises(UserInputError, match=r"`notes\.pdf` is not an image"):
        convert.check_attachment("notes.pdf", "application/pdf", 1000)


def test_attachment_without_a_content_type_is_refused():
    with pytest.raises(UserInputError, match="not an image"):
        convert.check_attachment("mystery", None, 1000)


def test_attachment_over_ten_megabytes_is_refused_with_its_size():
    with pytest.raises(UserInputError, match=r"12\.0 MB; reference images can be"):
        convert.check_attachment("big.png", "image/png", 12 * 1024 * 1024)


def test_image_attachment_within_the_limit_passes():
    convert.check_attachment("cat.png", "image/png", 10 * 1024 * 1024)


def test_command_in_a_thread_keeps_its_results_in_that_thread():
    chat = convert.chat_ref(1, 2, in_thread=True, upload_limit=None)

    assert (chat.channel_id, chat.thread_id) == ("2", "2")


def test_command_in_a_channel_leaves_the_thread_to_be_opened():
    chat = convert.chat_ref(1, 2, in_thread=False, upload_limit=52428800)

    assert chat.platform is Platform.DISCORD
    assert (chat.workspace_id, chat.thread_id, chat.upload_limit) == (
        "1",
        None,
        52428800,
    )


def test_options_left_out_take_the_bot_defaults():
    request = convert.generation_request(
        prompt="a corgi",
        requester=Requester(user_id="7"),
        chat=convert.chat_ref(1, 2, in_thread=False, upload_limit=None),
        default_model="sora-2",
        default_seconds=10,
    )

    assert (request.model, request.seconds, request.orientation, request.hd) == (
        "sora-2",
        10,
        Orientation.LANDSCAPE,
        False,
    )
    assert request.private is False


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("a corgi\nsurfing   at sunset", "a corgi surfing at sunset"),
        ("   \n ", convert.FALLBACK_THREAD_NAME),
        ("x" * 150, "x" * 99 + "…"),
    ],
)
def test_thread_name_is_one_line_of_at_most_100_characters(prompt, name):
    assert convert.thread_name(prompt) == name
