"""What ``/sora-info`` and ``/sora-help`` show: the facts, gathered by the service,
and their wording, decided here once for Discord and Slack.

Adapters pass two small functions: ``where`` (how to point at a task's thread in
their markup) and ``escape`` (their escaping of user text, such as prompts), and
wrap the lines in their own message; the sentences are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from bot.capabilities import CapabilityProfile, ModelCapability
from bot.models import Task
from bot.rendering import outcome_label, status_line

Where = Callable[[Task], str]
Escape = Callable[[str], str]

_PROMPT_CHARS = 80


def _same(text: str) -> str:
    return text


class Limits(BaseModel):
    """The running and waiting limits that apply to one member on one server."""

    model_config = ConfigDict(frozen=True)

    running: int
    waiting: int
    server_running: int | None = None


class ServerView(BaseModel):
    """What moderators see besides their own videos; ``governance`` is the
    limits, spend today and this month, gates and word list, already worded."""

    model_config = ConfigDict(frozen=True)

    running: int
    waiting: int
    settings: tuple[tuple[str, str], ...] = ()
    governance: str = ""


class MemberInfo(BaseModel):
    """One member's videos on one server, and, for moderators, the server's."""

    model_config = ConfigDict(frozen=True)

    running: tuple[Task, ...]
    queued: tuple[Task, ...]
    limits: Limits
    private: bool
    private_note: str = ""
    use_today: str = ""
    server: ServerView | None = None


def _task_line(task: Task, where: Where, escape: Escape) -> str:
    prompt = " ".join(task.request.prompt.split())[:_PROMPT_CHARS]
    return f"- {escape(status_line(task))} in {where(task)}: {escape(prompt)}"


def limits_lines(limits: Limits) -> list[str]:
    """The limits that apply to the reader, one sentence each."""
    lines = [
        f"You may run {limits.running} video(s) at once; more wait in line "
        f"(at most {limits.waiting}) and start by themselves.",
    ]
    if limits.server_running is not None:
        lines.append(
            f"This server runs at most {limits.server_running} video(s) at once; "
            "members take turns in its line."
        )
    return lines


def info_lines(info: MemberInfo, *, where: Where, escape: Escape = _same) -> list[str]:
    """``/sora-info``: running and waiting videos with their place, the limits,
    private mode here; for moderators, the server's figures and settings."""
    lines = [f"Your running videos ({len(info.running)} of {info.limits.running}):"]
    lines += [_task_line(t, where, escape) for t in info.running] or ["- none"]
    lines.append(f"Waiting in line ({len(info.queued)} of {info.limits.waiting}):")
    lines += [_task_line(t, where, escape) for t in info.queued] or ["- none"]
    lines += limits_lines(info.limits)
    if info.use_today:
        lines.append(info.use_today)
    lines.append(f"Private mode here: {'on' if info.private else 'off'}.")
    if info.private and info.private_note:
        lines.append(info.private_note)
    if info.server is not None:
        server = info.server
        limit = info.limits.server_running
        of = "" if limit is None else f" of {limit}"
        lines.append(
            f"Server: {server.running}{of} video(s) running, {server.waiting} waiting."
        )
        lines += [f"- {name}: {escape(value)}" for name, value in server.settings]
        if server.governance:
            lines += server.governance.splitlines()
    return lines


def mine_lines(
    tasks: Sequence[Task], *, where: Where, escape: Escape = _same
) -> list[str]:
    """ "My videos": the member's newest requests here and how each ended."""
    if not tasks:
        return ["You have not made any videos here yet."]
    lines = [f"Your {len(tasks)} newest video(s) here:"]
    for task in tasks:
        prompt = " ".join(task.request.prompt.split())[:_PROMPT_CHARS]
        lines.append(f"- {outcome_label(task)} in {where(task)}: {escape(prompt)}")
    return lines


def options_lines(profiles: Sequence[CapabilityProfile]) -> list[str]:
    """What this server's providers can make, model by model (a model several
    providers offer is listed as the first, the preferred one, has it)."""
    models: dict[str, ModelCapability] = {}
    for profile in profiles:
        for capability in profile.models:
            models.setdefault(capability.name, capability)
    styles = list(dict.fromkeys(s for p in profiles for s in p.styles))
    lines = []
    for model in models.values():
        lengths = ", ".join(f"{s}" for s in model.seconds)
        hd = (
            f"; HD at {', '.join(str(s) for s in model.hd_seconds)} s"
            if model.hd
            else ""
        )
        lines.append(f"- {model.name}: {lengths} s{hd}")
    lines.append("- landscape or portrait")
    if styles:
        lines.append(f"- styles: {', '.join(styles)}")
    lines.append(
        "- private (not published, cannot be remixed)"
        if any(p.private for p in profiles)
        else "- private mode is not available with this video service"
    )
    return lines


def help_lines(
    syntax: str, profiles: Sequence[CapabilityProfile], limits: Limits
) -> list[str]:
    """``/sora-help``: the syntax (the adapter's), the options, the limits."""
    return [
        syntax,
        "What this server's video service can make:",
        *options_lines(profiles),
        "Limits:",
        *limits_lines(limits),
    ]
