"""Reading the bot's ``/metrics`` and ``/readyz`` over HTTP, as Prometheus and an
orchestrator would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    """Every sample of ``GET /metrics``, by name and labels."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def ready(base_url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base_url}/readyz")
    return response.status_code, response.json()


async def ready_becomes(
    base_url: str, status: int, within: float = 30.0
) -> dict[str, Any]:
    """Poll ``/readyz`` until it answers ``status``; its body then."""
    deadline = time.monotonic() + within
    while True:
        code, body = await ready(base_url)
        if code == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz stayed {code}: {body}")
        await asyncio.sleep(0.1)


async def scraped_when(
    base_url: str, check: Callable[[Samples], bool], within: float = 5.0
) -> Samples:
    """Scrape until ``check(samples)`` holds; those samples, or fail in time."""
    deadline = time.monotonic() + within
    while not check(samples := await scrape(base_url)):
        if time.monotonic() > deadline:
            raise AssertionError("the metrics never showed it")
        await asyncio.sleep(0.05)
    return samples


async def counted(
    base_url: str, name: str, expected: Callable[[], float], **labels: str
) -> Samples:
    """Scrape until ``name`` equals ``expected()``: a request the peer recorded
    may still be on its way back when first scraped."""
    return await scraped_when(
        base_url, lambda samples: value(samples, name, **labels) == expected()
    )


async def until(check: Callable[[], Any], within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - the state lives in another server
            await asyncio.sleep(0.02)
