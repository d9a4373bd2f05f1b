"""The one-off commands: ``generate``, ``resume``, ``tasks``, ``providers`` and
``audit``.

Each opens a ``Runtime`` of its own with the terminal as the chat surface, so a
command-line generation goes through exactly the same service, store, tracker and
provider client as a ``/sora`` in Discord or Slack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import mimetypes
import sys
from pathlib import Path

from bot.audit.export import Format, parse_since
from bot.audit.export import write as write_audit
from bot.capabilities import Offer, default_model
from bot.config import Settings
from bot.errors import UserInputError
from bot.http_transport import AiohttpTransport, CookielessClient
from bot.models import (
    GenerationRequest,
    ImageInput,
    Orientation,
    Platform,
    Requester,
    Task,
    TaskState,
)
from bot.provider_report import report
from bot.proxies import Proxies
from bot.rendering import outcome_label, provider_label
from bot.runtime import (
    HTTP_LIMITS,
    HTTP_TIMEOUT,
    Runtime,
    build_pool,
    configured_profiles,
)
from bot.signals import Interrupted, Signals
from bot.simulator import Simulator
from bot.storage import open_store, sqlite_path
from bot.terminal import TerminalDirectory, cli_chat

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # the provider could not make the video
EXIT_USAGE = 2  # refused before anything was sent: input, configuration


def _local(settings: Settings) -> Settings:
    """Settings for a one-off command: a free port unless the world must reach us.

    Without ``PUBLIC_URL`` nothing outside calls the bot's HTTP server, so a free
    port avoids clashing with a ``sorabot run`` on the same machine.
    """
    if settings.public_url is None:
        return settings.model_copy(update={"http_port": 0})
    return settings


def _requester() -> Requester:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # containers may have no passwd entry for the uid
        user = "cli"
    return Requester(user_id=user, display_name=user)


def _read_image(path: Path) -> ImageInput:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"There is no image file {path}.") from None
    except OSError as exc:
        raise UserInputError(f"Cannot read the image {path}: {exc.strerror}.") from None
    mime, _ = mimetypes.guess_type(path.name)
    return ImageInput(filename=path.name, data=data, content_type=mime or "")


def request_from_args(
    args: argparse.Namespace, settings: Settings
) -> GenerationRequest:
    """The ``generate`` arguments as a request; the image is read, not checked.

    Unset ``--model`` and ``--seconds`` mean ``SORA_MODEL`` (else the provider's
    first model) and that model's shortest length.
    """
    out = Path(args.out)
    if not out.parent.resolve().is_dir():
        raise UserInputError(f"The folder {out.parent} for --out does not exist.")
    if out.is_dir():
        raise UserInputError(f"--out {out} is a folder; give a file name.")
    offer = Offer.of(configured_profiles(settings))
    model = args.model or default_model(offer, settings.sora_model)
    options: dict[str, object] = {
        "model": model,
        "orientation": Orientation(args.orientation),
        "seconds": offer.default_seconds(model)
        if args.seconds is None
        else args.seconds,
        "hd": args.hd,
        "private": args.private,
        "style": args.style,
    }
    image = _read_image(Path(args.image)) if args.image else None
    return GenerationRequest.model_validate(
        {
            "prompt": args.prompt,
            **options,
            "image": image,
            "requester": _requester(),
            "chat": cli_chat(out),
        }
    )


async def _until_recorded(runtime: Runtime, task_id: str, within: float = 5) -> None:
    """Wait until the store says the outcome was delivered, so ``resume`` won't."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        task = await runtime.store.get(task_id)
        if task.state in (TaskState.DELIVERED, TaskState.CANCELLED):
            return
        await asyncio.sleep(0.05)
    log.warning("task %s was shown but not yet recorded as delivered", task_id)


async def generate(
    args: argparse.Namespace, settings: Settings, signals: Signals
) -> int:
    """One video to ``--out``; ``EXIT_FAILED`` when the provider made none."""
    request = request_from_args(args, settings)
    terminal = TerminalDirectory(sys.stderr)
    async with Runtime(_local(settings)) as runtime:
        runtime.service.register_chat(terminal)
        await signals.race(runtime.start())
        task = await signals.race(runtime.service.submit(request))
        try:
            failure = await signals.race(terminal.outcome(task.id))
        except Interrupted:
            terminal.say(
                f"Stopped. Task {task.id} is saved; `sorabot resume` finishes it."
            )
            raise
        await _until_recorded(runtime, task.id)
    return EXIT_OK if failure is None else EXIT_FAILED


async def resume(settings: Settings, signals: Signals) -> int:
    """Finish the command-line tasks a stopped process left, then return."""
    terminal = TerminalDirectory(sys.stderr)
    async with Runtime(_local(settings)) as runtime:
        runtime.service.register_chat(terminal)
        unfinished = await runtime.store.unfinished()
        mine = [t for t in unfinished if t.chat.platform is Platform.CLI]
        if len(mine) < len(unfinished):
            terminal.say(
                f"{len(unfinished) - len(mine)} Discord/Slack task(s) are left "
                "for `sorabot run`."
            )
        if not mine:
            terminal.say("No command-line task to resume.")
            return EXIT_OK
        terminal.say(f"Resuming {len(mine)} task(s).")
        await signals.race(runtime.start())
        outcomes = await signals.race(
            asyncio.gather(*(terminal.outcome(t.id) for t in mine))
        )
        for task in mine:
            await _until_recorded(runtime, task.id)
    return EXIT_OK if all(o is None for o in outcomes) else EXIT_FAILED


async def list_tasks(settings: Settings, limit: int) -> int:
    """Print the newest tasks as a table on stdout."""
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        sys.stdout.write(f"No tasks yet (no database at {path}).\n")
        return EXIT_OK
    async with open_store(settings.database_url) as store:
        tasks = await store.recent(limit)
    rows = [("ID", "OUTCOME", "PROGRESS", "MODEL", "PROVIDER", "CREATED", "PROMPT")]
    for task in tasks:
        prompt = " ".join(task.request.prompt.split())
        if len(prompt) > 48:
            prompt = prompt[:47] + "…"
        created = task.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        rows.append(
            (
                task.id,
                outcome_label(task),
                _progress(task),
                task.request.model,
                provider_label(task),
                created,
                prompt,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[-1]]) + "\n")
    return EXIT_OK


async def export_audit(
    settings: Settings, server: str | None, since: str | None, fmt: Format
) -> int:
    """Print the audit record (one server's, from a date) on stdout."""
    start = None if since is None else parse_since(since)
    path = sqlite_path(settings.database_url)
    entries = []
    if path is None or path.exists():
        async with open_store(settings.database_url) as store:
            entries = await store.audit_entries(workspace_id=server, since=start)
    write_audit(entries, sys.stdout, fmt)
    return EXIT_OK


def _progress(task: Task) -> str:
    """The percent while it runs or once done; a failure's last percent misleads."""
    if task.failure is not None or task.state is TaskState.CANCELLED:
        return "-"
    if task.state in (TaskState.SUCCEEDED, TaskState.DELIVERED):
        return "100%"
    return f"{task.progress.percent}%"


async def list_providers(settings: Settings) -> int:
    """Print each configured provider, its profile and a live check on stdout.

    ``EXIT_FAILED`` when some provider is unreachable or refuses its key.
    """
    proxies = Proxies()  # the same routes as ``sorabot run`` takes
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            CookielessClient(
                timeout=HTTP_TIMEOUT, transport=AiohttpTransport(HTTP_LIMITS, proxies)
            )
        )
        simulator_url = None
        if settings.use_simulator:
            simulator = await stack.enter_async_context(
                Simulator(settings.simulator_duration)
            )
            simulator_url = simulator.base_url
            proxies.go_direct(simulator_url)
        pool = build_pool(settings, client, simulator_url)
        lines, healthy = await report(pool.members, simulated=simulator_url is not None)
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK if healthy else EXIT_FAILED
