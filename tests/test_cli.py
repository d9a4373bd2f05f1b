# The command line is driven as a user would: ``python -m bot`` in a subprocess.
"""``sorabot`` end to end: real processes, a real SQLite file, the simulator over HTTP.

Where a test must see what the provider received, the simulator runs in the test's
own event loop and ``sorabot`` reaches it over HTTP through ``SORA_API_URL``; where
it must not matter, ``sorabot`` starts its built-in simulator (no key configured).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.config import DIALECTS
from bot.models import Platform, Task, TaskState
from bot.rendering import failure_text
from bot.simulator import FileRecord, RecordedRequest, Simulator
from bot.storage.sqlite import SqliteTaskStore

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a corgi surfing at sunset"
API_KEY = "sk-test-cli-secret-0123456789"
_OPERATOR_PREFIXES = (
    "SORA_",
    "DISCORD_",
    "SLACK_",
    "SIMULATOR_",
    "DATABASE_URL",
    "MEDIA_DIR",
    "PUBLIC_URL",
    "VIDEO_LINK_DAYS",
    "HTTP_",
    "LOG_LEVEL",
    "POLL_INTERVAL",
    "TASK_DEADLINE",
    "USER_CONCURRENCY_LIMIT",
)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A shell with no operator settings: built-in simulator, SQLite in tmp_path."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(_OPERATOR_PREFIXES)
    }
    clean.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'sorabot.db'}",
        MEDIA_DIR=str(tmp_path / "media"),
        HTTP_PORT="0",
        SIMULATOR_DURATION="1.5",
        POLL_INTERVAL="0.1",
    )
    return clean


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(duration=1.5, api_key=API_KEY) as sim:
        yield sim


@pytest.fixture
def sim_env(env: dict[str, str], simulator: Simulator) -> dict[str, str]:
    """``env`` pointed at the test's own simulator, as at a paid relay."""
    return {**env, "SORA_API_URL": simulator.base_url, "SORA_API_KEY": API_KEY}


async def _start(
    args: tuple[str, ...], env: dict[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def sorabot(
    *args: str, env: dict[str, str], cwd: Path, within: float = 60
) -> Result:
    process = await _start(args, env, cwd)
    stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


def percents(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", text)]


async def stored_tasks(tmp_path: Path) -> list[Task]:
    async with SqliteTaskStore.open(tmp_path / "sorabot.db") as store:
        return await store.recent(100)


def create_requests(simulator: Simulator) -> list[object]:
    return [r for r in simulator.requests if r.method == "POST"]


async def test_generate_writes_a_playable_mp4_with_a_rising_progress_bar(env, tmp_path):
    result = await sorabot(
        "generate", PROMPT, "--out", "corgi.mp4", env=env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    shown = percents(result.stderr)
    assert shown == sorted(shown)
    assert shown[-1] == 100
    assert len(set(shown)) >= 3
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _received_images(request: RecordedRequest) -> list[FileRecord]:
    """The reference images a create request carried: uploaded or fetched by URL."""
    uploaded = [v for v in request.body.values() if isinstance(v, FileRecord)]
    return uploaded + list(request.fetched.values())


@pytest.mark.parametrize("with_image", [False, True], ids=["text", "image"])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_generate_works_with_every_dialect_with_and_without_an_image(
    dialect, with_image, sim_env, simulator, tmp_path
):
    simulator.duration = 1.0
    port = _free_port()
    # URL-only dialects fetch the image from the bot's own HTTP server.
    env = {
        **sim_env,
        "SORA_API_DIALECT": dialect,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HTTP_PORT": str(port),
    }
    Image.new("RGB", (640, 480), (200, 120, 40)).save(tmp_path / "ref.png")
    image_args = ("--image", "ref.png") if with_image else ()

    result = await sorabot(
        "generate", PROMPT, *image_args, "--out", "v.mp4", env=env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    [request] = simulator.requests
    assert request.dialect == dialect
    assert len(_received_images(request)) == (1 if with_image else 0)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_generate_with_an_image_needs_no_configuration_on_any_dialect(
    dialect, env, tmp_path
):
    # The built-in simulator fetches the image from the bot's own loopback server,
    # so a fresh clone needs neither a key nor PUBLIC_URL, whatever the dialect.
    Image.new("RGB", (640, 480), (200, 120, 40)).save(tmp_path / "x.png")

    result = await sorabot(
        "generate",
        PROMPT,
        "--image",
        "x.png",
        "--out",
        "y.mp4",
        env={**env, "SORA_API_DIALECT": dialect},
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "y.mp4").read_bytes()[4:8] == b"ftyp"
    [task] = await stored_tasks(tmp_path)
    assert task.failure is None
    assert task.request.image is not None


@pytest.mark.parametrize(
    ("dialect", "shown", "hidden"),
    [
        ("sora", ["turbo", "5, 10", "--style S", "natural"], ["--hd", "--private"]),
        ("unified", ["sora-2, sora-2-pro", "10, 15"], ["--hd", "--private", "--style"]),
        ("openai", ["10, 15", "--hd", "HD (sora-2-pro)"], ["--private", "--style"]),
        ("v2", ["10, 15, 25", "--hd", "--private"], ["--style"]),
        ("video-create", ["10, 15, 25", "--private", "anime"], []),
    ],
)
async def test_generate_help_lists_only_what_the_dialect_can_do(
    dialect, shown, hidden, env, tmp_path
):
    result = await sorabot(
        "generate", "--help", env={**env, "SORA_API_DIALECT": dialect}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    for words in shown:
        assert words in help_text
    for option in hidden:
        assert option not in help_text


async def test_generate_on_sora_defaults_to_turbo_at_5_seconds(
    sim_env, simulator, tmp_path
):
    simulator.duration = 0.5
    env = {**sim_env, "SORA_API_DIALECT": "sora"}

    result = await sorabot("generate", PROMPT, "--out", "v.mp4", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    [create] = simulator.requests[:1]
    assert (create.body["model"], create.body["n_frames"]) == ("turbo", 150)


async def test_generated_task_is_delivered_and_listed_by_tasks(env, tmp_path):
    await sorabot("generate", PROMPT, "--out", "corgi.mp4", env=env, cwd=tmp_path)

    listing = await sorabot("tasks", env=env, cwd=tmp_path)

    [task] = await stored_tasks(tmp_path)
    assert task.state is TaskState.DELIVERED
    assert task.chat.platform is Platform.CLI
    assert task.chat.channel_id == str((tmp_path / "corgi.mp4").resolve())
    assert listing.returncode == 0
    [row] = [line for line in listing.stdout.splitlines() if task.id in line]
    assert row.split()[1:5] == ["done", "100%", "sora-2", "openai"]
    assert PROMPT in row


async def test_tasks_lists_a_failed_video_as_failed_with_its_kind_not_delivered(
    sim_env, simulator, tmp_path
):
    env = {**sim_env, "SORA_API_DIALECT": "v2"}
    await sorabot(
        "generate", f"{PROMPT} #moderation", "--out", "x.mp4", env=env, cwd=tmp_path
    )

    listing = await sorabot("tasks", env=env, cwd=tmp_path)

    [task] = await stored_tasks(tmp_path)
    assert task.failure is not None
    [row] = [line for line in listing.stdout.splitlines() if task.id in line]
    assert row.split()[1:5] == [
        "failed",
        f"({task.failure.kind.value})",
        "-",
        "sora-2",
    ]
    assert row.split()[5] == "v2"
    assert "delivered" not in row
    assert "%" not in row


@pytest.mark.parametrize("limit", ["-1", "0", "many"])
async def test_tasks_refuses_a_limit_that_is_not_a_positive_whole_number(
    limit, env, tmp_path
):
    result = await sorabot("tasks", "--limit", limit, env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "--limit" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("x" * 1001,), "limit is 1000"),
        ((PROMPT, "--seconds", "25"), "sora-2 makes 10 or 15-second videos, not 25"),
        ((PROMPT, "--image", "notes.png"), "is not a JPEG, PNG or WebP image"),
        ((PROMPT, "--image", "missing.png"), "There is no image file"),
        ((PROMPT, "--hd"), "HD videos need sora-2-pro"),
        ((PROMPT, "--private"), "cannot keep videos unpublished"),
        ((PROMPT, "--style", "anime"), "This video service has no styles."),
    ],
    ids=[
        "prompt-too-long",
        "25s-on-openai",
        "text-as-png",
        "no-such-image",
        "hd",
        "private-on-openai",
        "style-on-openai",
    ],
)
async def test_invalid_input_exits_with_one_line_and_sends_nothing(
    args, reason, sim_env, simulator, tmp_path
):
    (tmp_path / "notes.png").write_text("these are my notes, not a picture\n")

    result = await sorabot(
        "generate", *args, "--out", "out.mp4", env=sim_env, cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert reason in result.stderr
    assert simulator.requests == []
    assert not (tmp_path / "sorabot.db").exists() or await stored_tasks(tmp_path) == []
    assert not (tmp_path / "out.mp4").exists()


def _cut_off_png(path: Path) -> None:
    Image.effect_noise((640, 480), 60).convert("RGB").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _huge_png(path: Path) -> None:
    Image.new("RGB", (9000, 8000), (10, 20, 30)).save(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [(_cut_off_png, "damaged or cut short"), (_huge_png, "too many pixels")],
    ids=["cut-off-png", "9000x8000"],
)
async def test_image_that_does_not_decode_exits_2_before_anything_is_posted_or_sent(
    make, reason, sim_env, simulator, tmp_path
):
    make(tmp_path / "bad.png")

    result = await sorabot(
        "generate",
        PROMPT,
        "--image",
        "bad.png",
        "--out",
        "o.mp4",
        env=sim_env,
        cwd=tmp_path,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert reason in result.stderr
    assert "with --image" in result.stderr
    assert "Attach" not in result.stderr
    assert "Generating" not in result.stderr
    assert simulator.requests == []
    assert not (tmp_path / "sorabot.db").exists() or await stored_tasks(tmp_path) == []


async def test_moderation_failure_exits_non_zero_with_a_plain_reason(
    sim_env, simulator, tmp_path
):
    result = await sorabot(
        "generate", f"{PROMPT} #moderation", "--out", "x.mp4", env=sim_env, cwd=tmp_path
    )

    [task] = await stored_tasks(tmp_path)
    assert result.returncode == 1
    assert task.state is TaskState.DELIVERED
    assert task.failure is not None
    assert task.failure.kind.value.startswith("moderation")
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"Failed: {failure_text(task.failure)}"
    assert "did not pass the video service's content review" in last
    assert last.endswith(
        'The video service said: "The generated video did not pass review '
        '(output moderation)."'
    )
    assert "{" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()


async def test_a_refused_key_tells_the_terminal_user_to_check_sora_api_key(
    sim_env, simulator, tmp_path
):
    env = {**sim_env, "SORA_API_KEY": "sk-not-the-right-one-0123456789"}

    result = await sorabot("generate", PROMPT, "--out", "x.mp4", env=env, cwd=tmp_path)

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Failed: The bot's video service key was refused.")
    assert "Check SORA_API_KEY" in last
    assert "operator" not in last


async def _read_until(
    process: asyncio.subprocess.Process, pattern: str
) -> re.Match[str]:
    assert process.stderr is not None
    seen = ""
    async with asyncio.timeout(30):
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, f"sorabot ended before printing {pattern!r}:\n{seen}"
            seen += line
            if match := re.search(pattern, line):
                return match


async def _generate_then_signal(
    sig: int, env: dict[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    """``sorabot generate``, sent ``sig`` once its progress bar shows more than 0 %."""
    process = await _start(("generate", PROMPT, "--out", "corgi.mp4"), env, cwd)
    await _read_until(process, r"\b[1-9]\d*%")
    process.send_signal(sig)
    return process


async def test_sigkill_mid_task_then_resume_delivers_once(sim_env, simulator, tmp_path):
    env = {**sim_env}
    simulator.duration = 3.0
    process = await _generate_then_signal(signal.SIGKILL, env, tmp_path)
    await process.wait()
    [killed] = await stored_tasks(tmp_path)

    result = await sorabot("resume", env=env, cwd=tmp_path)

    assert killed.state.in_flight
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    [task] = await stored_tasks(tmp_path)
    assert task.id == killed.id
    assert task.state is TaskState.DELIVERED
    assert len(create_requests(simulator)) == 1
    listing = await sorabot("tasks", env=env, cwd=tmp_path)
    assert task.id in listing.stdout


async def test_sigterm_stops_generate_within_5_s_and_leaves_the_task_resumable(
    sim_env, simulator, tmp_path
):
    simulator.duration = 3.0
    process = await _generate_then_signal(signal.SIGTERM, sim_env, tmp_path)
    started = time.monotonic()
    _, stderr = await asyncio.wait_for(process.communicate(), 10)
    stopped_after = time.monotonic() - started
    [stopped] = await stored_tasks(tmp_path)

    resumed = await sorabot("resume", env=sim_env, cwd=tmp_path)

    assert stopped_after < 5
    assert process.returncode == 128 + signal.SIGTERM
    assert "sorabot resume" in stderr.decode()
    assert stopped.state.in_flight
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    assert len(create_requests(simulator)) == 1


async def test_resume_with_nothing_unfinished_exits_at_once(env, tmp_path):
    result = await sorabot("resume", env=env, cwd=tmp_path, within=20)

    assert result.returncode == 0
    assert "No command-line task to resume" in result.stderr


async def _stop(process: asyncio.subprocess.Process) -> float:
    """SIGTERM; the seconds until the process has exited."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), 10)
    return time.monotonic() - started


def slack_http_env(env: dict[str, str]) -> dict[str, str]:
    """Slack in HTTP mode: nothing is asked of Slack until an event arrives."""
    return {
        **env,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }


async def test_run_serves_healthz_and_stops_on_sigterm_within_5_s(env, tmp_path):
    process = await _start(("run",), slack_http_env(env), tmp_path)
    url = (await _read_until(process, r"HTTP server listening on (http://\S+)"))[1]
    await _read_until(process, r"sorabot is running")
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{url}/healthz")

    stopped_after = await _stop(process)

    assert health.json() == {"status": "ok"}
    assert stopped_after < 5
    assert process.returncode == 0


async def test_run_finishes_a_command_line_task_interrupted_earlier(
    sim_env, simulator, tmp_path
):
    simulator.duration = 3.0
    generate = await _generate_then_signal(signal.SIGKILL, sim_env, tmp_path)
    await generate.wait()

    bot = await _start(("run",), slack_http_env(sim_env), tmp_path)
    await _read_until(bot, r"Saved \d+ bytes to .*corgi\.mp4")
    await _stop(bot)

    [task] = await stored_tasks(tmp_path)
    assert task.state is TaskState.DELIVERED
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    assert len(create_requests(simulator)) == 1


async def test_run_with_no_platform_configured_exits_2_naming_the_variables(
    env, tmp_path
):
    result = await sorabot("run", env=env, cwd=tmp_path, within=20)

    assert result.returncode == 2
    for name in (
        "DISCORD_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
    ):
        assert name in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DATABASE_URL", "mysql://db/sorabot", "DATABASE_URL must look like"),
        ("HTTP_PORT", "eighty", "HTTP_PORT"),
        ("SORA_API_DIALECT", "klingon", "SORA_API_DIALECT"),
    ],
)
async def test_bad_configuration_is_one_line_naming_the_variable(
    variable, value, reason, env, tmp_path
):
    env = {**env, variable: value}

    result = await sorabot("generate", PROMPT, "--out", "x.mp4", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("sorabot: configuration: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert reason in result.stderr


async def generate_logging_at(level: str, env: dict[str, str], cwd: Path) -> Result:
    """``sorabot generate`` with ``LOG_LEVEL=level``; it must succeed."""
    result = await sorabot(
        "generate",
        PROMPT,
        "--out",
        "corgi.mp4",
        env={**env, "LOG_LEVEL": level},
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result


async def test_info_logging_shows_task_steps_not_every_status_query(
    sim_env, simulator, tmp_path
):
    result = await generate_logging_at("INFO", sim_env, tmp_path)

    assert "submitted as" in result.stderr
    assert "HTTP Request:" not in result.stderr
    assert len(set(percents(result.stderr))) >= 3  # it did query, several times


async def test_api_key_never_appears_in_output_even_when_debugging(
    sim_env, simulator, tmp_path
):
    result = await generate_logging_at("DEBUG", sim_env, tmp_path)

    assert API_KEY not in result.stdout + result.stderr


async def test_generate_and_tasks_run_on_postgresql(env, tmp_path, postgres_backend):
    env = {**env, "DATABASE_URL": postgres_backend.url}

    result = await sorabot(
        "generate", PROMPT, "--out", "corgi.mp4", env=env, cwd=tmp_path
    )
    listing = await sorabot("tasks", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    assert not (tmp_path / "sorabot.db").exists()
    async with postgres_backend.open() as store:
        [task] = await store.recent(100)
    assert task.state is TaskState.DELIVERED
    [row] = [line for line in listing.stdout.splitlines() if task.id in line]
    assert row.split()[1:3] == ["done", "100%"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://root:hunter2@db.example/sora", "must look like sqlite:///"),
        ("postgresql://root:hunter2@127.0.0.1:1/sora", "root@127.0.0.1:1/sora"),
    ],
)
async def test_a_database_url_it_cannot_use_is_refused_without_its_password(
    url, reason, env, tmp_path
):
    result = await sorabot("tasks", env={**env, "DATABASE_URL": url}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("sorabot: configuration: DATABASE_URL")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert reason in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
