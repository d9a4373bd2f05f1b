"""Fixtures for the Slack end-to-end tests, star-imported by each test module.

Not loaded with ``pytest_plugins`` as the Discord ones are: a plugin's fixtures are
visible session-wide, so these two names would shadow the Discord plugin's ``fake``
and ``simulator`` in the Discord tests. A module may define its own ``fake`` (e.g.
with tighter rate limits) after the import, and sets ``SIM_DURATION`` to change
how long a simulated job takes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_bot import SIM_KEY

__all__ = ["fake", "simulator"]

# Seconds a simulated job takes unless the module says otherwise: long enough to
# see progress, short for the suite.
SIM_DURATION = 0.8


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    duration = getattr(request.module, "SIM_DURATION", SIM_DURATION)
    async with Simulator(duration, api_key=SIM_KEY) as simulator:
        yield simulator
