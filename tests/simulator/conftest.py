"""Fixtures for the simulator's own tests: a fast simulator, a raw client, images."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.simulator import Simulator
from tests.fakes.provider import ImageHost, running_simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running_simulator(0.4, callback_retry_delays=(0.05, 0.1, 0.2)) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as c:
        yield c


@pytest.fixture
async def images() -> AsyncIterator[ImageHost]:
    async with ImageHost() as host:
        yield host
