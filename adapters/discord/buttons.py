"""Retry, Remix, Cancel and Takedown: buttons that keep working after the bot restarts.

Each button's custom id carries the task id (``sora:retry:<task id>``), and the
classes are registered with ``Client.add_dynamic_items`` at start-up, so a click on
a message posted by an earlier process is still routed here. The button holds no
state beyond that id; the core looks the task up.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import discord

from adapters.discord.replies import reply, reporting, requester_of, started_text
from bot.audit.text import TAKEDOWN_DONE
from bot.models import Task
from bot.rendering import PROVIDER_REMIX, remix_label
from bot.validation import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from adapters.discord.client import SoraClient

# Task ids are opaque to the adapter; this keeps custom ids within Discord's 100
# characters and out of other bots' ``sora:`` namespaces.
_TASK_ID = r"(?P<task_id>[A-Za-z0-9_-]{1,80})"

# A modal left open is forgotten after this long (discord.py keeps it in memory).
MODAL_TIMEOUT = 600.0

Button = discord.ui.Button[discord.ui.View]


def _client(interaction: discord.Interaction[Any]) -> SoraClient:
    return cast("SoraClient", interaction.client)


class _TaskButton(discord.ui.DynamicItem[Button], template=rf"sora:\w+:{_TASK_ID}"):
    """A button whose custom id is ``sora:<kind>:<task id>``; subclasses set the kind.

    The template is derived from ``kind`` so the id a button is built with and the
    pattern that routes a click back to its class cannot drift apart.
    """

    kind: ClassVar[str]
    text: ClassVar[str]
    style: ClassVar[discord.ButtonStyle]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__(template=rf"sora:{cls.kind}:{_TASK_ID}")

    def __init__(self, task_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or self.text,
                style=self.style,
                custom_id=f"sora:{self.kind}:{task_id}",
            )
        )
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["task_id"])


class RetryButton(_TaskButton):
    """Ask again with exactly the same settings and image."""

    kind = "retry"
    text = "Retry"
    style = discord.ButtonStyle.primary

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            service = _client(interaction).service
            task = await service.retry(self.task_id, requester_of(interaction))
            await reply(interaction, started_text(task))


class RemixButton(_TaskButton):
    """Open a form for a new prompt: the provider's remix of the video, or a new
    video with the same settings and image (the label says which)."""

    kind = "remix"
    text = "Remix"
    style = discord.ButtonStyle.secondary

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            # A modal must be the first response, so no defer: one indexed read.
            task = await _client(interaction).service.get_task(self.task_id)
            await interaction.response.send_modal(RemixModal(task))


class CancelButton(_TaskButton):
    """Stop a running job: its requester, or a member with Manage Server."""

    kind = "cancel"
    text = "Cancel"
    style = discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            await _client(interaction).service.cancel(
                self.task_id,
                requester_of(interaction),
                moderator=interaction.permissions.manage_guild,
            )
            await reply(interaction, "Cancelled.")


class TakedownButton(_TaskButton):
    """Remove a delivered video: members with Manage Server, checked on each click."""

    kind = "takedown"
    text = "Takedown"
    style = discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            await _client(interaction).service.take_down(
                self.task_id,
                requester_of(interaction),
                moderator=interaction.permissions.manage_guild,
            )
            await reply(interaction, TAKEDOWN_DONE)


class RemixModal(discord.ui.Modal, title="Remix this video"):
    """The new prompt for a remix, pre-filled with the old one to edit; titled as
    what it will do."""

    prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
        label="New prompt",
        custom_id="sora:remix-prompt",
        style=discord.TextStyle.paragraph,
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
    )

    def __init__(self, task: Task) -> None:
        label = remix_label(task)
        super().__init__(
            title="Remix this video" if label == PROVIDER_REMIX else label,
            custom_id=f"sora:remix-form:{task.id}",
            timeout=MODAL_TIMEOUT,
        )
        self.task_id = task.id
        self.prompt.default = task.request.prompt[:MAX_PROMPT_CHARS]

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        async with reporting(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            task = await _client(interaction).service.remix(
                self.task_id, self.prompt.value, requester_of(interaction)
            )
            await reply(interaction, started_text(task))


DYNAMIC_ITEMS = (RetryButton, RemixButton, CancelButton, TakedownButton)


def running_view(task_id: str) -> discord.ui.View:
    """The status message's buttons while the job runs."""
    return discord.ui.View(timeout=None).add_item(CancelButton(task_id))


def result_view(
    task: Task, *, remix: bool = True, takedown: bool = False
) -> discord.ui.View:
    """Under a video (Retry, Remix labelled as what it does, Takedown) or an
    error (Retry only)."""
    view = discord.ui.View(timeout=None).add_item(RetryButton(task.id))
    if remix:
        view.add_item(RemixButton(task.id, remix_label(task)))
    if takedown:
        view.add_item(TakedownButton(task.id))
    return view


def audit_view(task_id: str) -> discord.ui.View:
    """Under an audit entry for a video that is still up."""
    return discord.ui.View(timeout=None).add_item(TakedownButton(task_id))
