"""Advice that depends on who reads it: a member in a chat, or a terminal user.

The core words each message once, for chat, where the reader attaches pictures and
someone else (an operator) runs the bot. At the terminal the reader passes files
with ``--image`` and is the operator, so "attach it again" and "ask an operator"
point nowhere. The few sentences that differ are named here; the modules that
raise or show them use these names, and ``for_surface`` swaps them for the surface
that shows the text. Everything else reads the same everywhere.
"""

from __future__ import annotations

from enum import StrEnum

from bot.models import Platform


class Advice(StrEnum):
    """Chat sentences telling the reader what to do; each has a terminal twin."""

    ATTACH_ANOTHER = "Attach it again or try another picture."
    ATTACH_PICTURE = "Attach a picture."
    ATTACH_SMALLER = "Attach a smaller one."
    ATTACH_FORMAT = "Attach a .jpg, .png or .webp picture."
    NO_PUBLIC_URL = (
        "Try again without the image, or ask an operator to set up PUBLIC_URL."
    )
    OPERATOR_TOLD = "An operator has been told; please try again later."
    OPERATOR_TOLD_SETUP = "An operator has been told."
    TELL_OPERATOR = "Please tell an operator."


_TERMINAL: dict[Advice, str] = {
    Advice.ATTACH_ANOTHER: "Pass another file with --image.",
    Advice.ATTACH_PICTURE: "Pass a picture with --image.",
    Advice.ATTACH_SMALLER: "Pass a smaller one with --image.",
    Advice.ATTACH_FORMAT: "Pass a .jpg, .png or .webp file with --image.",
    Advice.NO_PUBLIC_URL: (
        "Run it again without --image, or set PUBLIC_URL to an address where the "
        "video service reaches this machine's HTTP server."
    ),
    Advice.OPERATOR_TOLD: "Check SORA_API_KEY and SORA_API_URL.",
    Advice.OPERATOR_TOLD_SETUP: (
        "Check SORA_API_KEY, SORA_API_URL and the provider account."
    ),
    Advice.TELL_OPERATOR: "Check the credit of the provider account.",
}


def for_surface(text: str, platform: Platform) -> str:
    """``text`` as the reader on ``platform`` should see it.

    Chat platforms get it unchanged; the terminal gets each chat sentence replaced
    by its terminal twin.
    """
    if platform is not Platform.CLI:
        return text
    for chat, terminal in _TERMINAL.items():
        text = text.replace(chat, terminal)
    return text
