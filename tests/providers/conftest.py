"""Fixtures for provider tests: a shared httpx client and the simulator (small real
HTTP peers come from ``serve`` in tests/conftest.py), plus helpers the dialect-wide
contract and fault tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.models import ChatRef, GenerationRequest, Platform, Requester, TaskStatus
from bot.ports import VideoProvider
from bot.providers import make_provider
from bot.simulator import Simulator
from tests.fakes.provider import running_simulator

# The simulator demands it, so a client that drops its key fails the test.
SIM_KEY = "sk-provider-test-key"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as shared:
        yield shared


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running_simulator(0.3, api_key=SIM_KEY) as running:
        yield running


def provider_for(
    dialect: str,
    sim: Simulator,
    client: httpx.AsyncClient,
    key: str = SIM_KEY,
    **options: Any,
) -> VideoProvider:
    """The dialect's client at ``sim``; ``options`` are ``make_provider``'s
    ``profile`` and ``watermark``."""
    return make_provider(
        dialect, base_url=sim.base_url, api_key=key, client=client, **options
    )


async def run_to_end(provider: VideoProvider, task_id: str) -> list[TaskStatus]:
    """Poll like the tracker does until the task ends; every status seen."""
    seen: list[TaskStatus] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen.append(await provider.query(task_id))
        if seen[-1].state.terminal:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"task never ended; last status {seen[-1:]}")


def make_request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "prompt": "a corgi surfing at sunset",
        "requester": Requester(user_id="u1", display_name="Ann"),
        "chat": ChatRef(platform=Platform.CLI),
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)
