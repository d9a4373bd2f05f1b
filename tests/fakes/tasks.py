"""Builders for requests and tasks, and waits on their outcome, for tests."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

from PIL import Image

from bot.models import (
    ChatRef,
    GenerationRequest,
    ImageInput,
    Platform,
    Requester,
    Task,
    TaskState,
)


def png_bytes(size: tuple[int, int] = (64, 36), color: str = "orange") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image(**overrides: Any) -> ImageInput:
    fields: dict[str, Any] = {"filename": "ref.png", "data": png_bytes()}
    fields.update(overrides)
    return ImageInput(**fields)


def make_request(
    prompt: str = "a corgi surfing at sunset",
    *,
    user: str = "u1",
    platform: Platform = Platform.CLI,
    workspace: str = "w1",
    channel: str = "c1",
    **overrides: Any,
) -> GenerationRequest:
    fields: dict[str, Any] = {
        "prompt": prompt,
        "requester": Requester(user_id=user, display_name=f"user {user}"),
        "chat": ChatRef(platform=platform, workspace_id=workspace, channel_id=channel),
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def make_task(request: GenerationRequest | None = None, **overrides: Any) -> Task:
    request = request or make_request()
    fields: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "request": request,
        "chat": request.chat,
        "callback_token": uuid.uuid4().hex,
        "dialect": "openai",
    }
    fields.update(overrides)
    return Task(**fields)


async def settled(runtime: Any, task_id: str, within: float = 15.0) -> Task:
    """The task once the store says the user was told (or it was cancelled)."""
    async with asyncio.timeout(within):
        while True:
            task = await runtime.store.get(task_id)
            if task.state in (TaskState.DELIVERED, TaskState.CANCELLED):
                return task
            await asyncio.sleep(0.02)


def creates(simulator: Any) -> list[Any]:
    """The create requests the simulator received, in order."""
    return [r for r in simulator.requests if r.method == "POST"]
