"""Advice worded for where it is read: chat members attach, terminal users pass."""

from __future__ import annotations

import pytest

from bot.errors import ProviderAuthError, ProviderQuotaError, UserInputError
from bot.imaging import ensure_decodable
from bot.models import Platform
from bot.wording import Advice, for_surface

CHAT_ONLY = ("Attach", "attach", "operator")


@pytest.mark.parametrize("advice", list(Advice))
def test_every_chat_sentence_has_a_terminal_twin_without_chat_words(advice):
    terminal = for_surface(str(advice), Platform.CLI)

    assert terminal != str(advice)
    assert not any(word in terminal for word in CHAT_ONLY), terminal


@pytest.mark.parametrize("platform", [Platform.DISCORD, Platform.SLACK])
def test_chat_platforms_keep_the_chat_wording(platform):
    text = ProviderAuthError("401", status_code=401).user_message

    assert for_surface(text, platform) == text


@pytest.mark.parametrize(
    ("error", "terminal"),
    [
        (ProviderAuthError("401", status_code=401), "Check SORA_API_KEY"),
        (ProviderQuotaError("402", status_code=402), "provider account"),
    ],
    ids=["refused-key", "no-credit"],
)
def test_provider_setup_errors_tell_the_terminal_user_what_to_check(error, terminal):
    text = for_surface(error.user_message, Platform.CLI)

    assert terminal in text
    assert "operator" not in text


def test_a_damaged_image_tells_the_terminal_user_to_pass_another_file():
    with pytest.raises(UserInputError) as caught:
        ensure_decodable(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    assert "Attach it again" in caught.value.user_message
    assert for_surface(caught.value.user_message, Platform.CLI).endswith(
        "Pass another file with --image."
    )
