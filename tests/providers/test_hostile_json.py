"""Whatever JSON a relay sends, a parser answers a status (or a task id) or a
``ProviderError``, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ProviderError
from bot.models import TaskStatus
from bot.providers import PROVIDERS

# Every field name any dialect's parser looks at, so random bodies reach deep code.
FIELDS = (
    "status",
    "progress",
    "progress_pct",
    "results",
    "video_url",
    "url",
    "data",
    "output",
    "metadata",
    "generations",
    "error",
    "message",
    "code",
    "type",
    "fail_reason",
    "failure_reason",
    "detail",
    "pending_info",
    "result_url",
    "id",
    "task_id",
)
WORDS = st.sampled_from(
    [
        "SUCCESS",
        "completed",
        "FAILURE",
        "failed",
        "IN_PROGRESS",
        "pending",
        "success",
        "task_not_exist",
        "45%",
        "0.5",
        "https://cdn.example/v.mp4",
        "http://",
        "",
        "{}",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | WORDS
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=5
        )
    ),
    max_leaves=25,
)
SEEDED = st.fixed_dictionaries(
    {"status": WORDS | SCALARS},
    optional=dict.fromkeys((f for f in FIELDS if f != "status"), JSON),
)
BODIES = JSON | SEEDED | st.fixed_dictionaries({"code": WORDS, "data": SEEDED | JSON})


@pytest.mark.parametrize("dialect", sorted(PROVIDERS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_parser_answers_a_status_or_a_provider_error(dialect, body):
    try:
        outcome: TaskStatus | ProviderError = PROVIDERS[dialect].parse_status(body)
    except ProviderError as exc:
        outcome = exc

    if isinstance(outcome, TaskStatus):
        assert 0 <= outcome.progress.percent <= 100
    else:
        assert str(outcome), "a ProviderError must say what went wrong"


@pytest.mark.parametrize("dialect", sorted(PROVIDERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES | st.fixed_dictionaries({"id": SCALARS, "task_id": SCALARS}))
def test_create_answer_parser_answers_an_id_or_a_provider_error(dialect, body):
    try:
        outcome: str | ProviderError = PROVIDERS[dialect].parse_created(body)
    except ProviderError as exc:
        outcome = exc

    if isinstance(outcome, str):
        assert outcome.strip() == outcome
        assert outcome
    else:
        assert str(outcome), "a ProviderError must say what went wrong"
