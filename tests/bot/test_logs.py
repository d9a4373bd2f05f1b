"""LOG_FORMAT: one JSON object per line with the task's fields, or readable text;
secrets masked in both."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import JsonFormatter, TextFormatter
from tests.fakes.tasks import make_request, settled

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the ``bot`` loggers write at INFO, in the JSON format."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_tracker_lines_carry_task_id_provider_platform_and_workspace(
    make_runtime, json_lines
):
    runtime = await make_runtime()

    task = await runtime.service.submit(make_request(workspace="T042"))
    await settled(runtime, task.id)
    entries = _entries(json_lines)

    [submitted] = [e for e in entries if "submitted as" in str(e["message"])]
    assert submitted["task_id"] == task.id
    assert submitted["provider"] == "default"
    assert submitted["platform"] == "cli"
    assert submitted["workspace"] == "T042"
    assert submitted["level"] == "INFO"
    assert submitted["logger"] == "bot.tracking.steps"
    assert str(submitted["time"]).endswith("+00:00")
    # Lines written outside any task's step name none.
    started = next(e for e in entries if "tracker started" in str(e["message"]))
    assert "task_id" not in started


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_fields_passed_with_extra_are_fields_of_the_line():
    line = JsonFormatter().format(_record("hello", task_id="t1", platform="slack"))

    assert json.loads(line) == {
        "time": json.loads(line)["time"],
        "level": "WARNING",
        "logger": "bot.x",
        "message": "hello",
        "task_id": "t1",
        "platform": "slack",
    }


def test_an_exception_is_one_field_of_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "bot.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_secrets_are_masked_in_the_message_and_the_traceback(formatter):
    try:
        raise ValueError(f"key {SECRET} refused")
    except ValueError:
        record = logging.LogRecord(
            "bot.x", logging.ERROR, __file__, 1, "sent %s", (SECRET,), sys.exc_info()
        )

    line = formatter([SECRET]).format(record)

    assert SECRET not in line
    assert "***" in line


def test_text_lines_stay_readable():
    line = TextFormatter().format(_record("hello"))

    assert line.endswith(" WARNING bot.x: hello")


async def test_sorabot_generate_with_log_format_json_writes_json_log_lines(
    tmp_path, simulator
):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SORA_", "LOG_"))},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sorabot.db'}",
        "MEDIA_DIR": str(tmp_path / "media"),
        "HTTP_PORT": "0",
        "POLL_INTERVAL": "0.1",
        "SORA_API_URL": simulator.base_url,
        "SORA_API_KEY": SECRET,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "generate",
        "a corgi",
        "--out",
        "corgi.mp4",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    text = stderr.decode()
    # The progress bar shares stderr; every log line is one JSON object.
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    assert process.returncode == 0, text
    assert SECRET not in text
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e.get("task_id") and e.get("platform") == "cli" for e in entries)
