"""``sorabot providers`` as an operator runs it, against simulated relays."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.test_cli import env, sorabot  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.e2e

GOOD_KEY = "sk-good-key-0123456789"
BAD_KEY = "sk-bad-key-9876543210"


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _sections(stdout: str) -> dict[str, dict[str, str]]:
    """``{name: {label: value}}`` from the printed report."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in stdout.splitlines():
        if not line.startswith(" "):
            current = sections.setdefault(line.split(". ", 1)[1], {})
        else:
            label, _, value = line.strip().partition("  ")
            current[label] = value.strip()
    return sections


async def test_providers_shows_each_relay_and_whether_it_takes_its_key(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    async with Simulator(api_key=GOOD_KEY) as sim:
        providers = [
            {"name": "main", "dialect": "v2", "url": sim.base_url, "key": GOOD_KEY},
            {"name": "spare", "dialect": "sora", "url": sim.base_url, "key": BAD_KEY},
            {
                "name": "gone",
                "dialect": "openai",
                "url": _closed_port_url(),
                "key": "k",
            },
        ]
        result = await sorabot(
            "providers",
            env={**env, "SORA_PROVIDERS": json.dumps(providers)},
            cwd=tmp_path,
        )

    shown = _sections(result.stdout)
    assert list(shown) == ["main", "spare", "gone"]
    assert shown["main"]["check"] == "reachable, key accepted"
    assert shown["spare"]["check"] == "reachable, key refused (HTTP 401)"
    assert shown["gone"]["check"] == "unreachable (no connection)"
    assert shown["main"]["url"] == sim.base_url
    assert shown["main"]["dialect"] == "v2"
    assert shown["main"]["private"] == "yes"
    assert shown["main"]["circuit"] == "closed"
    assert "sora-2-pro: 10, 15, 25 s; HD at 10, 15 s" in shown["main"]["models"]
    assert shown["spare"]["styles"] == "natural"
    assert shown["gone"]["reference image"].startswith("uploaded")
    for key in (GOOD_KEY, BAD_KEY):
        assert key not in result.stdout + result.stderr
    assert result.returncode == 1  # one refused key, one unreachable


async def test_providers_with_every_check_passing_exits_0(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    async with Simulator(api_key=GOOD_KEY) as sim:
        result = await sorabot(
            "providers",
            env={
                **env,
                "SORA_API_URL": sim.base_url,
                "SORA_API_KEY": GOOD_KEY,
                "SORA_API_DIALECT": "unified",
            },
            cwd=tmp_path,
        )

    shown = _sections(result.stdout)
    assert list(shown) == ["default"]
    assert shown["default"]["check"] == "reachable, key accepted"
    assert shown["default"]["callbacks"] == "yes (https PUBLIC_URL only)"
    assert result.returncode == 0
