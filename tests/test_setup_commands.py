"""What a new operator runs first: ``--version``, ``invite``, and a proxy in the way.

``sorabot`` runs as a user runs it, in a subprocess (see tests/test_cli.py).
"""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path

import pytest
from yarl import URL

from tests.fakes.discord import FakeDiscord
from tests.fakes.proxy import PROXY_NAMES
from tests.test_cli import PROMPT, env, sorabot  # noqa: F401 - env is a fixture

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
NEEDED = 309237763072  # the README's table: seven permissions, no Manage Threads
APP_ID = "1100000000000000001"


@pytest.fixture
def shell(env: dict[str, str]) -> dict[str, str]:  # noqa: F811 - the fixture above
    """``env`` without any proxy variable of the shell running the tests."""
    return {k: v for k, v in env.items() if k not in PROXY_NAMES}


def _invite_query(stdout: str) -> dict[str, str]:
    [line] = stdout.splitlines()
    url = URL(line)
    assert (url.host, url.path) == ("discord.com", "/oauth2/authorize")
    return dict(url.query)


async def test_version_prints_the_version_in_pyproject(shell, tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    result = await sorabot("--version", env=shell, cwd=tmp_path)

    assert result.returncode == 0
    assert result.stdout.strip() == f"sorabot {project['project']['version']}"


async def test_invite_prints_the_url_with_the_permissions_the_bot_needs(
    shell, tmp_path
):
    result = await sorabot(
        "invite", env={**shell, "DISCORD_APPLICATION_ID": APP_ID}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    query = _invite_query(result.stdout)
    assert query == {
        "client_id": APP_ID,
        "scope": "bot applications.commands",
        "permissions": str(NEEDED),
    }


async def test_invite_reads_the_application_id_from_the_bot_token(shell, tmp_path):
    first = base64.b64encode(APP_ID.encode()).decode().rstrip("=")
    token = f"{first}.GhIjKl.{'x' * 38}"

    result = await sorabot(
        "invite", env={**shell, "DISCORD_TOKEN": token}, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert _invite_query(result.stdout)["client_id"] == APP_ID
    assert token not in result.stdout + result.stderr


async def test_invite_asks_discord_when_the_token_does_not_say(shell, tmp_path):
    async with FakeDiscord(app_id="1100000000000000777") as fake:
        result = await sorabot(
            "invite",
            env={**shell, "DISCORD_TOKEN": fake.token, "DISCORD_API_URL": fake.api_url},
            cwd=tmp_path,
        )

    assert result.returncode == 0, result.stderr
    query = _invite_query(result.stdout)
    assert query["client_id"] == "1100000000000000777"
    assert query["permissions"] == str(NEEDED)


async def test_invite_with_a_refused_token_exits_2_saying_so(shell, tmp_path):
    async with FakeDiscord() as fake:
        result = await sorabot(
            "invite",
            env={**shell, "DISCORD_TOKEN": "not-it", "DISCORD_API_URL": fake.api_url},
            cwd=tmp_path,
        )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Discord refused DISCORD_TOKEN" in result.stderr
    assert "not-it" not in result.stderr


async def test_invite_without_discord_settings_exits_2_saying_what_to_set(
    shell, tmp_path
):
    result = await sorabot("invite", env=shell, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "DISCORD_APPLICATION_ID" in result.stderr
    assert "DISCORD_TOKEN" in result.stderr


async def test_generate_reaches_the_built_in_simulator_directly_despite_a_proxy(
    shell, proxy, tmp_path
):
    shell = {**shell, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url}

    result = await sorabot(
        "generate", PROMPT, "--out", "corgi.mp4", env=shell, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "corgi.mp4").read_bytes()[4:8] == b"ftyp"
    assert proxy.carried == []


async def test_socks_proxy_exits_2_with_one_line_naming_the_variable(shell, tmp_path):
    shell = {**shell, "HTTPS_PROXY": "socks5://proxy.corp:1080"}

    result = await sorabot(
        "generate", PROMPT, "--out", "corgi.mp4", env=shell, cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "HTTPS_PROXY must be an http:// or https:// proxy URL" in result.stderr
