"""docker-compose.yml: the single-process setup, checked without a Docker engine.

The file is parsed as Compose reads it and held against the Dockerfile it builds:
one service, the database on a named volume at /data, settings from .env, the
HTTP port published, and the image's own health check on /healthz, run for real.
"""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.web import HttpServer, build_app
from tests.test_packaging import Stage, _healthcheck_command, _run, parse_dockerfile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def service(compose: dict[str, Any]) -> dict[str, Any]:
    [name] = compose["services"]
    assert name == "sorabot"
    return compose["services"][name]


def _image_env(stages: list[Stage]) -> dict[str, str]:
    return dict(
        pair.split("=", 1)
        for args in stages[-1].all("ENV")
        for pair in shlex.split(args)
        if "=" in pair
    )


def test_one_service_built_from_this_directory_running_sorabot_run(service):
    assert service["build"] == "."
    # No command: the image's ENTRYPOINT and CMD (sorabot run) apply.
    assert "command" not in service
    assert "entrypoint" not in service


def test_settings_come_from_the_env_file(service):
    assert service["env_file"] == ".env"
    assert (ROOT / ".env.example").is_file()  # what the quick start copies


def test_database_is_on_a_named_volume_mounted_at_data(compose, service, stages):
    volume, _, target = service["volumes"][0].partition(":")

    assert target == "/data"
    assert volume in compose["volumes"]
    assert service["environment"]["DATABASE_URL"] == "sqlite:////data/sorabot.db"
    assert service["environment"]["MEDIA_DIR"].startswith("/data/")
    assert "/data" in stages[-1].last("VOLUME")


def test_pinned_environment_is_the_images_own(service, stages):
    image = _image_env(stages)

    assert {k: str(v) for k, v in service["environment"].items()} == {
        name: image[name] for name in service["environment"]
    }


def test_published_port_is_the_one_the_bot_listens_on(service, stages):
    [published] = service["ports"]
    host, _, container = str(published).partition(":")

    assert container == str(service["environment"]["HTTP_PORT"]) == "8080"
    assert container == stages[-1].last("EXPOSE")
    assert service["environment"]["HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert host == "8080"


def test_healthcheck_is_the_images_own_on_healthz(service, stages):
    test = service["healthcheck"]["test"]

    assert test[0] == "CMD"
    assert test[1:] == ["python", *_healthcheck_command(stages)[1:]]
    assert "/healthz" in " ".join(test)
    assert service["healthcheck"]["retries"] >= 1


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_healthcheck_passes_with_a_proxy_set_for_the_bots_own_calls(stages):
    argv = _healthcheck_command(stages)
    dead = f"http://127.0.0.1:{_dead_port()}"
    async with HttpServer(build_app(), "127.0.0.1", 0) as server:
        code = await _run(
            argv,
            {"HTTP_PORT": str(server.port), "HTTP_PROXY": dead, "http_proxy": dead},
        )

    assert argv[0] == sys.executable
    assert code == 0
