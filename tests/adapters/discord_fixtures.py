"""Fixtures for the Discord end-to-end tests (loaded with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.adapters.discord_harness import SIM_KEY, at_harness_pace, bot_env
from tests.fakes.discord import FakeDiscord

# Seconds a simulated job takes: long enough to see progress, short for the suite.
SIM_DURATION = 1.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield at_harness_pace(fake)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(SIM_DURATION, api_key=SIM_KEY) as simulator:
        yield simulator


@pytest.fixture
def env(tmp_path: Path, fake: FakeDiscord, simulator: Simulator) -> dict[str, str]:
    return bot_env(tmp_path, fake, simulator)


@pytest.fixture
async def slow_simulator() -> AsyncIterator[Simulator]:
    """Jobs that outlast a test, for cancelling and restarting mid-job."""
    async with Simulator(60.0, api_key=SIM_KEY) as simulator:
        yield simulator


@pytest.fixture
def slow_env(
    tmp_path: Path, fake: FakeDiscord, slow_simulator: Simulator
) -> dict[str, str]:
    return bot_env(tmp_path, fake, slow_simulator)
