"""Provider failure reasons turned into plain words the user can act on.

The documents name three moderation stages (the input image, the prompt, the
generated video after review); when the provider's words say which one refused,
the user is told so. Raw JSON, HTML and links never reach a chat channel.
"""

from __future__ import annotations

import re

from bot.models import Failure, FailureKind
from bot.wording import Advice

_INVALID_INPUT = (
    "must match the requested width",
    "image_dimension_mismatch",
    "invalid_parameters",
    "image_processing_error",
    "invalid_request",
)
_QUOTA = ("quota", "insufficient", "resource_exhausted", "balance", "credit")
_TIMEOUT = ("timeout", "timed out")
_MODERATION = (
    "moderation",
    "policy",
    "violat",
    "did not pass review",
    "safety",
    "inappropriate",
    "sensitive",
    "nsfw",
    "celebrit",
    "copyright",
    "real person",
    "real people",
    "guardrail",
)
# Which moderation stage refused, in the order the words are most telling.
_STAGES: tuple[tuple[FailureKind, tuple[str, ...]], ...] = (
    (FailureKind.MODERATION_OUTPUT, ("did not pass review", "generated", "output")),
    (
        FailureKind.MODERATION_IMAGE,
        ("real person", "real people", "image", "photo", "picture", "face"),
    ),
    (FailureKind.MODERATION_PROMPT, ("prompt", "celebrit", "copyright")),
)
_MESSAGES: dict[FailureKind, str] = {
    FailureKind.MODERATION_PROMPT: (
        "The video service's content check refused the prompt. "
        "Rephrase it and try again."
    ),
    FailureKind.MODERATION_IMAGE: (
        "The video service's content check refused the reference image "
        "(for example, it shows a real person). Try another picture."
    ),
    FailureKind.MODERATION_OUTPUT: (
        "The finished video did not pass the video service's content review. "
        "Try a different prompt."
    ),
    FailureKind.MODERATION: (
        "The video service's content check refused this request. "
        "Try a different prompt or picture."
    ),
    FailureKind.PROVIDER_CONFIG: (
        f"The bot's video service is out of credit. {Advice.TELL_OPERATOR}"
    ),
    FailureKind.TIMEOUT: "The video service took too long and gave up. Try again.",
}
_URL_RE = re.compile(r"https?://\S+")
_SECRET_RE = re.compile(r"(Bearer\s+\S+|\bsk-[A-Za-z0-9_\-]{6,})", re.IGNORECASE)
_MAX_REASON = 200


def plain_reason(reason: str | None) -> str | None:
    """A provider's reason cut to one safe sentence, or ``None`` if it is not prose.

    Raw JSON, HTML, URLs and anything shaped like an API key never reach a chat
    channel.
    """
    if reason is None:
        return None
    line = " ".join(reason.split("\n", 1)[0].split())
    if not line or line[0] in "{[<" or "<html" in line.lower():
        return None
    line = _SECRET_RE.sub("***", _URL_RE.sub("[link]", line))
    if len(line) > _MAX_REASON:
        line = line[: _MAX_REASON - 1].rstrip() + "…"
    return line


def _says(words: str, cues: tuple[str, ...]) -> bool:
    """Whether a cue starts a word in ``words`` ("face" is not in "surface")."""
    return any(re.search(rf"(?<![a-z]){re.escape(cue)}", words) for cue in cues)


def _kind(words: str) -> FailureKind:
    if _says(words, _INVALID_INPUT):
        return FailureKind.INVALID_INPUT
    if _says(words, _MODERATION):
        return next(
            (kind for kind, cues in _STAGES if _says(words, cues)),
            FailureKind.MODERATION,
        )
    if _says(words, _QUOTA):
        return FailureKind.PROVIDER_CONFIG
    if _says(words, _TIMEOUT):
        return FailureKind.TIMEOUT
    return FailureKind.PROVIDER_ERROR


def describe_failure(reason: str | None, code: str | None) -> Failure:
    """A ``Failure`` naming the moderation stage when the provider's words say it."""
    kind = _kind(f"{code or ''} {reason or ''}".lower())
    message = _MESSAGES.get(kind)
    if message is None:
        said = plain_reason(reason)
        lead = (
            "The video service refused the request"
            if kind is FailureKind.INVALID_INPUT
            else "The video service could not make this video"
        )
        message = f"{lead}: {said}" if said else f"{lead}."
    return Failure(kind=kind, message=message, provider_code=code and code[:64])
