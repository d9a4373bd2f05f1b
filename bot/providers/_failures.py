"""Provider failure reasons sorted into stages the user can act on, words kept.

The documents name three moderation stages (the input image, the prompt, the
generated video after review); when the provider's words say which one refused,
the failure says so. Relays answer in English or Chinese, so both are read. The
provider's own sentence is kept too (``Failure.provider_reason``), made safe: one
line, no raw JSON or HTML, links and key-shaped strings redacted.
"""

from __future__ import annotations

import re

from bot.models import Failure, FailureKind
from bot.rendering import stage_sentence
from bot.wording import Advice

_MODERATION = (
    "moderat",
    "policy",
    "violat",
    "did not pass review",
    "content review",
    "safety",
    "inappropriate",
    "sensitive",
    "nsfw",
    "celebrit",
    "copyright",
    "real person",
    "real people",
    "guardrail",
    "审核",  # review
    "违规",  # violates the rules
    "敏感",  # sensitive
    "真人",  # a real person
    "版权",  # copyright
)
# Which moderation stage refused, in the order the words are most telling: a
# "generated" video that shows a real person was refused as output, not as input.
# Bare 生成 ("generation") names no stage: 视频生成失败 is just "generation failed",
# so only 生成的/生成结果 ("the generated ...") and 输出 ("output") mean the result.
_STAGES: tuple[tuple[FailureKind, tuple[str, ...]], ...] = (
    (
        FailureKind.MODERATION_OUTPUT,
        ("did not pass review", "generated", "output", "生成的", "生成结果", "输出"),
    ),
    (
        FailureKind.MODERATION_IMAGE,
        (
            "real person",
            "real people",
            "image",
            "photo",
            "picture",
            "face",
            "真人",
            "图片",  # picture
            "图像",  # image
            "照片",  # photo
            "人脸",  # face
        ),
    ),
    (
        FailureKind.MODERATION_PROMPT,
        ("prompt", "celebrit", "copyright", "提示词", "版权"),  # prompt, copyright
    ),
)
_INVALID_INPUT = (
    "must match the requested width",
    "image_dimension_mismatch",
    "invalid_parameters",
    "image_processing_error",
    "invalid_request",
)
# unified's ``resource_exhausted`` is the relay out of capacity, a passing state;
# it says nothing about the operator's credit.
_CAPACITY = ("resource_exhausted", "service_unavailable", "overloaded", "负载")
_QUOTA = ("quota", "insufficient", "balance", "credit", "余额", "额度")
_TIMEOUT = ("timeout", "timed out", "超时")
_CANCELLED = ("cancelled", "canceled", "已取消")

# Terminal status words that carry the reason themselves (relays add their own).
_MODERATED_WORDS = frozenset(
    {"moderated", "rejected", "blocked", "violation", "content_violation", "censored"}
)
_TIMED_OUT_WORDS = frozenset({"timeout", "timed_out", "expired"})
_CANCELLED_WORDS = frozenset({"cancelled", "canceled"})
FAILED_WORDS = frozenset(
    {"failure", "failed", "fail", "error"}
    | _MODERATED_WORDS
    | _TIMED_OUT_WORDS
    | _CANCELLED_WORDS
)

_REFUSED = "The video service refused the request."
_NOT_MADE = "The video service could not make this video."
_BUSY = (
    "The video service is busy or out of capacity right now. "
    "Try again in a few minutes."
)
_NO_CREDIT = f"The bot's video service is out of credit. {Advice.TELL_OPERATOR}"
_CANCELLED_BY_PROVIDER = "The video was cancelled by the video service. Try again."

_URL_RE = re.compile(r"https?://\S+")
_SECRET_RE = re.compile(r"(Bearer\s+\S+|\bsk-[A-Za-z0-9_\-]{6,})", re.IGNORECASE)
# C0 and C1 control characters: an escape sequence must not reach a terminal.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_REASON = 300


def plain_reason(reason: str | None) -> str | None:
    """A provider's reason cut to one safe line, or ``None`` if it is not prose.

    Raw JSON, HTML, URLs, control characters and anything shaped like an API key
    never reach a chat channel or a terminal.
    """
    if reason is None:
        return None
    line = " ".join(_CONTROL_RE.sub(" ", reason.split("\n", 1)[0]).split())
    if not line or line[0] in "{[<" or "<html" in line.lower():
        return None
    line = _SECRET_RE.sub("***", _URL_RE.sub("[link]", line))
    if len(line) > _MAX_REASON:
        line = line[: _MAX_REASON - 1].rstrip() + "…"
    return line


def _says(words: str, cues: tuple[str, ...]) -> bool:
    """Whether a cue starts a word in ``words`` ("face" is not in "surface")."""
    return any(re.search(rf"(?<![a-z]){re.escape(cue)}", words) for cue in cues)


def _classify(words: str, status: str) -> tuple[FailureKind, str | None]:
    """The kind, and the bot's sentence when the kind alone does not say it."""
    if status in _MODERATED_WORDS or _says(words, _MODERATION):
        stage = next((kind for kind, cues in _STAGES if _says(words, cues)), None)
        return stage or FailureKind.MODERATION, None
    if _says(words, _INVALID_INPUT):
        return FailureKind.INVALID_INPUT, _REFUSED
    if _says(words, _CAPACITY):
        return FailureKind.PROVIDER_ERROR, _BUSY
    if _says(words, _QUOTA):
        return FailureKind.PROVIDER_CONFIG, _NO_CREDIT
    if status in _TIMED_OUT_WORDS or _says(words, _TIMEOUT):
        return FailureKind.TIMEOUT, None
    if status in _CANCELLED_WORDS or _says(words, _CANCELLED):
        return FailureKind.PROVIDER_ERROR, _CANCELLED_BY_PROVIDER
    return FailureKind.PROVIDER_ERROR, _NOT_MADE


def failure_kind(reason: str | None, code: str | None) -> FailureKind:
    """What the provider's words say went wrong (an error answer's or a task's)."""
    return _classify(f"{code or ''} {reason or ''}".lower(), "")[0]


def describe_failure(
    reason: str | None, code: str | None, status: str | None = None
) -> Failure:
    """A failed task's ``Failure``: its stage, and the provider's words kept.

    ``status`` is the task's own status word, which some relays make the reason
    (``moderated``, ``expired``, ``cancelled``).
    """
    words = f"{code or ''} {reason or ''}".lower()
    kind, sentence = _classify(words, (status or "").lower())
    return Failure(
        kind=kind,
        message=sentence or stage_sentence(kind) or _NOT_MADE,
        provider_code=code and code[:64],
        # The operator's account is no business of the channel's.
        provider_reason=None
        if kind is FailureKind.PROVIDER_CONFIG
        else plain_reason(reason),
    )
