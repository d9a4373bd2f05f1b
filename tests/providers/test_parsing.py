"""Status answers, as the reference documents show them, become one ``TaskStatus``."""

# ruff: noqa: RUF001 - Chinese relays answer with full-width punctuation.

from __future__ import annotations

import pytest

from bot.errors import ProviderProtocolError, ProviderTaskUnknown
from bot.models import FailureKind, ProviderState
from bot.providers import PROVIDERS
from bot.providers._failures import describe_failure
from bot.providers._normalise import parse_progress, parse_state

CDN = "https://cdn.example.com/sora/f0aa213c.mp4"


def parse(dialect: str, body: object):
    return PROVIDERS[dialect].parse_status(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45%", 45),
        ("100%", 100),
        ("0", 0),
        (" 37 % ", 37),
        (65, 65),
        (33.4, 33),
        (0.9302, 93),
        (250, 100),
        (-5, 0),
        ("soon", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ([45], None),
    ],
)
def test_progress_reads_every_spelling_relays_use(raw, expected):
    assert parse_progress(raw) == expected


def test_progress_pct_is_a_fraction_even_at_one():
    assert parse_progress(1, fraction=True) == 100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NOT_START", ProviderState.QUEUED),
        ("SUBMITTED", ProviderState.QUEUED),
        ("pending", ProviderState.QUEUED),
        ("IN_PROGRESS", ProviderState.RUNNING),
        ("processing", ProviderState.RUNNING),
        ("SUCCESS", ProviderState.SUCCEEDED),
        ("Completed", ProviderState.SUCCEEDED),
        ("FAILURE", ProviderState.FAILED),
        ("cancelled", ProviderState.FAILED),
        ("expired", ProviderState.FAILED),
        ("uploading", ProviderState.QUEUED),
    ],
)
def test_status_words_map_case_insensitively(raw, expected):
    assert parse_state(raw) is expected


@pytest.mark.parametrize("raw", [None, "", "  ", 3, {"status": "x"}])
def test_missing_status_is_a_protocol_error(raw):
    with pytest.raises(ProviderProtocolError):
        parse_state(raw)


# --- v2 (reference section 1) ------------------------------------------------------


def test_v2_in_progress_reads_percent_string():
    status = parse(
        "v2",
        {
            "task_id": "f0aa",
            "platform": "sora",
            "status": "IN_PROGRESS",
            "progress": "45%",
            "fail_reason": "",
            "data": None,
        },
    )

    assert (status.state, status.progress.percent) == (ProviderState.RUNNING, 45)


def test_v2_success_finds_video_at_data_output():
    status = parse(
        "v2",
        {
            "task_id": "f0aa",
            "status": "SUCCESS",
            "progress": "100%",
            "data": {"output": CDN},
        },
    )

    assert (status.state, status.video_url) == (ProviderState.SUCCEEDED, CDN)


def test_v2_failure_after_review_names_the_output_stage():
    status = parse(
        "v2",
        {
            "task_id": "f0aa",
            "status": "FAILURE",
            "progress": "95%",
            "fail_reason": "Generated content did not pass review",
            "data": None,
        },
    )

    assert status.state is ProviderState.FAILED
    assert status.progress.percent == 95
    assert status.failure is not None
    assert status.failure.kind is FailureKind.MODERATION_OUTPUT
    assert "{" not in status.failure.message


def test_success_without_any_video_link_is_a_protocol_error():
    with pytest.raises(ProviderProtocolError, match="no link"):
        parse("v2", {"status": "SUCCESS", "progress": "100%", "data": None})


# --- sora (reference section 2) ----------------------------------------------------


def test_sora_success_searches_the_upstream_object_for_the_mp4():
    status = parse(
        "sora",
        {
            "code": "success",
            "message": "",
            "data": {
                "task_id": "task_01jh",
                "status": "SUCCESS",
                "progress": "100%",
                "data": {
                    "id": "gen",
                    "generations": [
                        {
                            "encodings": {
                                "thumbnail": {"path": "https://x.example/t.webp"},
                                "source": {"path": "https://x.example/v.mp4?sig=1"},
                            }
                        }
                    ],
                },
            },
        },
    )

    assert status.video_url == "https://x.example/v.mp4?sig=1"


def test_sora_running_reads_upstream_progress_pct_when_progress_is_missing():
    status = parse(
        "sora",
        {
            "code": "success",
            "data": {"status": "IN_PROGRESS", "data": {"progress_pct": 0.42}},
        },
    )

    assert status.progress.percent == 42


def test_sora_task_not_exist_envelope_is_an_unknown_task():
    with pytest.raises(ProviderTaskUnknown):
        parse(
            "sora",
            {"code": "task_not_exist", "message": "task_not_exist", "data": None},
        )


def test_sora_failure_uses_fail_reason():
    status = parse(
        "sora",
        {
            "code": "success",
            "data": {
                "status": "FAILURE",
                "progress": "100%",
                "fail_reason": "The prompt violates our content policy",
            },
        },
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.MODERATION_PROMPT


# --- unified (reference section 3) -------------------------------------------------


def test_unified_completed_reads_first_result():
    status = parse(
        "unified",
        {
            "id": "task-unified-1",
            "object": "video.generation.task",
            "status": "completed",
            "progress": 100,
            "results": [CDN],
            "task_info": {"can_cancel": False},
        },
    )

    assert (status.state, status.video_url) == (ProviderState.SUCCEEDED, CDN)


def test_unified_content_policy_code_without_stage_is_generic_moderation():
    status = parse(
        "unified",
        {
            "id": "task-unified-1",
            "status": "failed",
            "progress": 0,
            "error": {
                "code": "content_policy_violation",
                "message": "Content policy violation.\nDetails follow",
            },
        },
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.MODERATION
    assert status.failure.provider_code == "content_policy_violation"


# --- openai (reference section 4) --------------------------------------------------


def test_openai_completed_without_url_is_fine_because_content_route_exists():
    status = parse(
        "openai",
        {"id": "video_1", "object": "video", "status": "completed", "progress": 100},
    )

    assert (status.state, status.video_url) == (ProviderState.SUCCEEDED, None)


def test_openai_relay_video_url_is_used():
    status = parse(
        "openai",
        {"id": "task_abc", "status": "completed", "progress": 100, "video_url": CDN},
    )

    assert status.video_url == CDN


def test_openai_empty_video_url_while_running_is_ignored():
    status = parse(
        "openai",
        {"id": "task_abc", "status": "in_progress", "progress": 33, "video_url": ""},
    )

    assert (status.state, status.progress.percent) == (ProviderState.RUNNING, 33)


# --- video-create (reference section 5) --------------------------------------------


def test_video_create_pending_reads_string_progress():
    status = parse(
        "video-create",
        {
            "id": "sora-2:task_01k9",
            "status": "pending",
            "progress": "0",
            "detail": {"input": {"prompt": "make animate", "images": []}},
        },
    )

    assert (status.state, status.progress.percent) == (ProviderState.QUEUED, 0)


def test_video_create_progress_pct_fraction_becomes_percent():
    status = parse(
        "video-create",
        {
            "id": "sora-2:task_01k6",
            "status": "processing",
            "detail": {
                "pending_info": {"status": "processing", "progress_pct": 0.9302}
            },
        },
    )

    assert status.progress.percent == 93


def test_video_create_failure_reason_in_detail():
    status = parse(
        "video-create",
        {
            "id": "sora-2:task_1",
            "status": "failed",
            "progress": "0",
            "video_url": None,
            "detail": {"status": "failed", "failure_reason": "Upstream exploded"},
        },
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.PROVIDER_ERROR
    assert status.failure.provider_reason == "Upstream exploded"


# --- failure wording -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code", "kind"),
    [
        ("The image contains a real person", None, FailureKind.MODERATION_IMAGE),
        (
            "Prompt violates policy: living celebrities",
            None,
            FailureKind.MODERATION_PROMPT,
        ),
        ("Generated content did not pass review", None, FailureKind.MODERATION_OUTPUT),
        (
            "Content policy violation.",
            "content_policy_violation",
            FailureKind.MODERATION,
        ),
        (
            "Inpaint image must match the requested width and height",
            None,
            FailureKind.INVALID_INPUT,
        ),
        ("Quota exceeded", "quota_exceeded", FailureKind.PROVIDER_CONFIG),
        ("Generation timed out", "generation_timeout", FailureKind.TIMEOUT),
        ("Policy violation on a surface", None, FailureKind.MODERATION),
        (None, None, FailureKind.PROVIDER_ERROR),
    ],
)
def test_failures_are_classified_by_what_the_provider_says(reason, code, kind):
    assert describe_failure(reason, code).kind is kind


def test_providers_words_never_echo_json_or_links():
    failure = describe_failure('{"error": {"message": "boom"}}', None)
    linked = describe_failure(
        "Upstream failed, see https://relay.example/log?k=1", None
    )

    assert failure.provider_reason is None
    assert "{" not in failure.message
    assert linked.provider_reason == "Upstream failed, see [link]"


def test_providers_words_never_repeat_something_shaped_like_a_key():
    failure = describe_failure("Upstream refused key sk-abcdef123456 for this", None)

    assert failure.provider_reason == "Upstream refused key *** for this"


# --- progress a relay pins at 0 ------------------------------------------------------


def test_video_create_pending_with_rising_upstream_fraction_shows_it():
    # Reference section 5, the richer pending variant: the relay's own progress
    # stays "0" while the upstream job is most of the way there.
    status = parse(
        "video-create",
        {
            "id": "sora-2:task_01k9008rhbefnt3rb1g9szxdwr",
            "object": "video",
            "model": "sora-2",
            "status": "pending",
            "progress": "0",
            "created_at": 1762010621,
            "size": "small",
            "status_update_time": 1762010621323,
            "detail": {
                "id": "task_01k6",
                "input": {"prompt": "make animate", "model": "sora-2", "images": []},
                "status": "pending",
                "pending_info": {
                    "id": "task_01k6",
                    "type": "video_gen",
                    "status": "processing",
                    "progress_pct": 0.9302,
                    "generations": [],
                },
            },
        },
    )

    assert (status.state, status.progress.percent) == (ProviderState.QUEUED, 93)


def test_sora_zero_percent_with_upstream_fraction_shows_the_fraction():
    status = parse(
        "sora",
        {
            "code": "success",
            "message": "",
            "data": {
                "task_id": "task_01jhjp54x0f759wceyasz6xrge",
                "status": "IN_PROGRESS",
                "progress": "0%",
                "finish_time": 0,
                "data": {"id": "gen", "status": "processing", "progress_pct": 0.37},
            },
        },
    )

    assert (status.state, status.progress.percent) == (ProviderState.RUNNING, 37)


def test_a_stale_upstream_fraction_never_lowers_the_relays_own_progress():
    status = parse(
        "video-create",
        {
            "status": "processing",
            "progress": 60,
            "detail": {"pending_info": {"progress_pct": 0.1}},
        },
    )

    assert status.progress.percent == 60


# --- terminal words that are their own reason -----------------------------------------


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("moderated", FailureKind.MODERATION),
        ("REJECTED", FailureKind.MODERATION),
        ("blocked", FailureKind.MODERATION),
        ("violation", FailureKind.MODERATION),
        ("timeout", FailureKind.TIMEOUT),
        ("expired", FailureKind.TIMEOUT),
        ("cancelled", FailureKind.PROVIDER_ERROR),
        ("canceled", FailureKind.PROVIDER_ERROR),
        ("failure", FailureKind.PROVIDER_ERROR),
    ],
)
def test_terminal_status_words_fail_the_task_with_their_reason(word, kind):
    status = parse("video-create", {"id": "sora-2:task_1", "status": word})

    assert status.state is ProviderState.FAILED
    assert status.failure is not None
    assert status.failure.kind is kind


def test_a_task_the_provider_cancelled_says_so():
    status = parse("unified", {"id": "task-unified-1", "status": "cancelled"})

    assert status.failure is not None
    assert "cancelled by the video service" in status.failure.message


def test_a_blocked_status_still_reads_the_stage_from_the_reason():
    status = parse(
        "v2",
        {"status": "blocked", "fail_reason": "The image contains a real person"},
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.MODERATION_IMAGE


# --- the provider's own words ---------------------------------------------------------


def test_the_providers_reason_is_kept_as_the_provider_said_it():
    reason = (
        "Generated video did not pass content review "
        "(output moderation flagged the result at 95%)"
    )
    status = parse(
        "unified",
        {
            "id": "task-unified-1",
            "status": "failed",
            "progress": 95,
            "error": {"code": "content_policy_violation", "message": reason},
        },
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.MODERATION_OUTPUT
    assert status.failure.provider_reason == reason


def test_a_long_reason_is_cut_at_about_300_characters():
    failure = describe_failure("The prompt was refused. " + "x" * 1000, None)

    assert failure.provider_reason is not None
    assert 280 <= len(failure.provider_reason) <= 300
    assert failure.provider_reason.endswith("…")


def test_control_characters_never_reach_a_terminal():
    failure = describe_failure("refused\x1b[2J\x07 here", None)

    assert failure.provider_reason == "refused [2J here"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("提示词包含敏感内容，请修改后重试", FailureKind.MODERATION_PROMPT),
        ("输入图片包含真人，无法生成", FailureKind.MODERATION_IMAGE),
        ("图片审核未通过", FailureKind.MODERATION_IMAGE),
        ("内容涉及版权，已拒绝", FailureKind.MODERATION_PROMPT),
        ("生成的视频未通过审核", FailureKind.MODERATION_OUTPUT),
        ("输出内容违规", FailureKind.MODERATION_OUTPUT),
        ("视频生成失败：内容违规", FailureKind.MODERATION),
        ("视频生成失败，请重试", FailureKind.PROVIDER_ERROR),
        ("生成超时", FailureKind.TIMEOUT),
    ],
)
def test_chinese_reasons_are_classified_like_english_ones(reason, kind):
    failure = describe_failure(reason, None)

    assert failure.kind is kind
    assert failure.provider_reason == reason


def test_unified_resource_exhausted_is_lack_of_capacity_not_of_credit():
    status = parse(
        "unified",
        {
            "id": "task-unified-1",
            "status": "failed",
            "error": {"code": "resource_exhausted", "message": "No capacity left"},
        },
    )

    assert status.failure is not None
    assert status.failure.kind is FailureKind.PROVIDER_ERROR
    assert "capacity" in status.failure.message
    assert "credit" not in status.failure.message


def test_sora_upstream_link_without_mp4_is_taken_from_its_named_field():
    status = parse(
        "sora",
        {
            "code": "success",
            "data": {
                "status": "SUCCESS",
                "progress": "100%",
                "data": {
                    "generations": [
                        {"encodings": {"source": {"path": "https://x.example/v?sig=1"}}}
                    ]
                },
            },
        },
    )

    assert status.video_url == "https://x.example/v?sig=1"
