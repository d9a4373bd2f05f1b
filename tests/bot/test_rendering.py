"""The shared wording: summaries, bars, elapsed time, labels and failure reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.models import Failure, FailureKind, Progress, TaskState, VideoResult
from bot.rendering import (
    PRIVATE_MODE_NOTE,
    PROVIDER_REMIX,
    SAME_SETTINGS,
    failure_text,
    format_elapsed,
    outcome_label,
    oversized_video_text,
    private_note,
    progress_bar,
    remix_label,
    settings_summary,
    state_label,
    status_line,
)
from tests.fakes.tasks import make_image, make_request, make_task


def test_settings_summary_lists_the_choices() -> None:
    request = make_request(model="sora-2-pro", hd=True, private=True)
    task = make_task(request, dialect="v2")

    assert settings_summary(task) == "sora-2-pro · 10 s · landscape · HD · private"
    assert private_note(task) == PRIVATE_MODE_NOTE


def test_settings_summary_mentions_style_and_image_and_omits_defaults() -> None:
    request = make_request(seconds=15, style="anime", image=make_image())

    assert settings_summary(make_task(request, dialect="video-create")) == (
        "sora-2 · 15 s · landscape · anime · reference image"
    )


@pytest.mark.parametrize("dialect", ["openai", "unified", "sora"])
def test_the_status_never_claims_private_where_the_dialect_has_no_private_field(
    dialect,
) -> None:
    task = make_task(make_request(private=True), dialect=dialect)

    assert "private" not in settings_summary(task)
    assert private_note(task) is None


def test_hd_is_not_shown_where_it_has_no_effect() -> None:
    at_25 = make_request(model="sora-2-pro", seconds=25, hd=True)
    on_unified = make_request(model="sora-2-pro", hd=True)

    assert "HD" not in settings_summary(make_task(at_25, dialect="v2"))
    assert "HD" not in settings_summary(make_task(on_unified, dialect="unified"))


def test_remix_is_the_providers_only_for_a_finished_video_it_can_remix() -> None:
    video = VideoResult(path="v.mp4", size_bytes=1, generation_id="gen_1")
    finished = make_task(make_request(model="turbo"), dialect="sora", result=video)
    elsewhere = make_task(make_request(), dialect="v2", result=video)
    unknown_generation = make_task(
        make_request(model="turbo"),
        dialect="sora",
        result=video.model_copy(update={"generation_id": None}),
    )

    assert remix_label(finished) == PROVIDER_REMIX
    assert remix_label(elsewhere) == SAME_SETTINGS
    assert remix_label(unknown_generation) == SAME_SETTINGS


@pytest.mark.parametrize(
    ("percent", "bar"),
    [
        (0, "░░░░░░░░░░ 0%"),
        (50, "█████░░░░░ 50%"),
        (99, "█████████░ 99%"),
        (100, "██████████ 100%"),
        (150, "██████████ 100%"),
    ],
)
def test_progress_bar(percent: int, bar: str) -> None:
    assert progress_bar(percent) == bar


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (42.9, "42 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")],
)
def test_format_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


@pytest.mark.parametrize(
    ("state", "label"),
    [
        (TaskState.RECEIVED, "Queued"),
        (TaskState.SUBMITTED, "Queued"),
        (TaskState.RUNNING, "Generating"),
        (TaskState.SUCCEEDED, "Done"),
        (TaskState.FAILED, "Failed"),
        (TaskState.CANCELLED, "Cancelled"),
    ],
)
def test_state_labels(state: TaskState, label: str) -> None:
    assert state_label(make_task(state=state)) == label


def test_delivered_failure_still_reads_failed() -> None:
    failure = Failure(kind=FailureKind.TIMEOUT, message="x")
    delivered = make_task(state=TaskState.DELIVERED, failure=failure)

    assert state_label(delivered) == "Failed"
    assert state_label(make_task(state=TaskState.DELIVERED)) == "Done"


def test_status_line_shows_bar_while_generating() -> None:
    task = make_task(state=TaskState.RUNNING, progress=Progress(percent=50))

    line = status_line(task, now=task.created_at + timedelta(seconds=65))

    assert line == "Generating █████░░░░░ 50% · 1 min 05 s"


def test_private_mode_note() -> None:
    assert "cannot be remixed" in PRIVATE_MODE_NOTE


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (FailureKind.MODERATION_PROMPT, "refused the prompt"),
        (FailureKind.MODERATION_IMAGE, "refused the reference image"),
        (FailureKind.MODERATION_OUTPUT, "finished video did not pass"),
        (FailureKind.MODERATION, "content policy"),
        (FailureKind.TIMEOUT, "took too long"),
    ],
)
def test_failure_text_names_the_stage_in_plain_words(
    kind: FailureKind, words: str
) -> None:
    text = failure_text(Failure(kind=kind, message='{"error": "raw"}'))

    assert words in text
    assert "raw" not in text


def test_failure_text_uses_the_safe_message_for_other_kinds() -> None:
    failure = Failure(kind=FailureKind.PROVIDER_ERROR, message="Out of GPUs.")
    blank = Failure(kind=FailureKind.DELIVERY, message=" ")

    assert failure_text(failure) == "Out of GPUs."
    assert "could not be posted" in failure_text(blank)


@pytest.mark.parametrize(
    ("state", "failure", "label"),
    [
        (TaskState.DELIVERED, None, "done"),
        (
            TaskState.DELIVERED,
            Failure(kind=FailureKind.MODERATION_OUTPUT, message="blocked"),
            "failed (moderation_output)",
        ),
        (
            TaskState.FAILED,
            Failure(kind=FailureKind.TIMEOUT, message="too slow"),
            "failed (timeout)",
        ),
        (TaskState.CANCELLED, None, "cancelled"),
        (TaskState.RUNNING, None, "generating"),
        (TaskState.SUBMITTED, None, "queued"),
    ],
)
def test_outcome_label_tells_a_failure_and_its_kind_from_a_delivered_video(
    state, failure, label
) -> None:
    task = make_task(state=state, failure=failure, progress=Progress(percent=85))

    assert outcome_label(task) == label


def test_an_oversized_video_link_says_why_and_for_how_long_in_one_sentence() -> None:
    text = oversized_video_text(
        30 * 1024 * 1024,
        10 * 1024 * 1024,
        "this server's",
        own_link="https://bot.example/media/videos/x.mp4",
        days=1,
        provider_link="https://cdn.example/v.mp4",
    )

    assert text == (
        "The video is 30.0 MB, more than this server's upload limit of 10.0 MB, so "
        "it cannot be attached here; this link to the bot's copy works for 1 day: "
        "https://bot.example/media/videos/x.mp4"
    )


def test_failure_text_quotes_the_providers_words_after_the_stage() -> None:
    failure = Failure(
        kind=FailureKind.MODERATION_OUTPUT,
        message="x",
        provider_reason="Generated video did not pass content review (95%)",
    )

    assert failure_text(failure) == (
        "The finished video did not pass the video service's content review. "
        "Try a different prompt. The video service said: "
        '"Generated video did not pass content review (95%)"'
    )


def test_failure_text_escapes_only_the_providers_words() -> None:
    failure = Failure(
        kind=FailureKind.INVALID_INPUT,
        message="The video service refused the request (field `duration`).",
        provider_reason="*duration* must be 10",
    )

    text = failure_text(failure, lambda words: words.replace("*", "\\*"))

    assert text.startswith("The video service refused the request (field `duration`).")
    assert text.endswith('said: "\\*duration\\* must be 10"')
