"""The ``sorabot`` command: generate one video, run the bot, resume, list tasks.

This is the composition root for every process: it reads settings, configures
logging, opens a ``Runtime`` and, for ``run``, attaches the configured chat adapters.
It is the only module in ``bot/`` allowed to import ``adapters`` (lazily, so the core
works without any chat SDK being importable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import io
import logging
import mimetypes
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from pydantic import ValidationError

from bot.config import Settings
from bot.errors import BotError, ConfigError, UserInputError
from bot.models import (
    GenerationRequest,
    ImageInput,
    Orientation,
    Platform,
    Requester,
    TaskState,
)
from bot.runtime import Runtime
from bot.store import SqliteTaskStore
from bot.terminal import TerminalDirectory, cli_chat

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # the provider could not make the video
EXIT_USAGE = 2  # refused before anything was sent: input, configuration

NOTHING_CONFIGURED = """\
sorabot run: no chat platform is configured. Set, in the environment or in .env:
  Discord:              DISCORD_TOKEN
  Slack (HTTP mode):    SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET
  Slack (Socket Mode):  SLACK_BOT_TOKEN and SLACK_APP_TOKEN
To try it without a chat platform: sorabot generate "a corgi surfing" --out a.mp4"""

_T = TypeVar("_T")


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """SIGINT/SIGTERM as an event the commands can race their work against."""

    def __init__(self) -> None:
        self.received = 0  # the signal number, once one arrived
        self._event = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def on_signal(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        if self.received:
            callback()

    def _on_signal(self, signum: int) -> None:
        self.received = signum
        self._event.set()
        for callback in self._callbacks:
            callback()

    async def race(self, work: Awaitable[_T]) -> _T:
        """``work``'s result, or ``_Interrupted`` as soon as a signal arrives."""
        job = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait((job, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not job.done():
            job.cancel()
            raise _Interrupted(self.received)
        return job.result()


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


def _request(args: argparse.Namespace, settings: Settings) -> GenerationRequest:
    out = Path(args.out)
    if not out.parent.resolve().is_dir():
        raise UserInputError(f"The folder {out.parent} for --out does not exist.")
    if out.is_dir():
        raise UserInputError(f"--out {out} is a folder; give a file name.")
    options: dict[str, object] = {
        "model": args.model or settings.sora_model,
        "orientation": Orientation(args.orientation),
        "hd": args.hd,
        "private": args.private,
        "style": args.style,
    }
    if args.seconds is not None:
        options["seconds"] = args.seconds
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


async def _generate(
    args: argparse.Namespace, settings: Settings, signals: _Signals
) -> int:
    request = _request(args, settings)
    terminal = TerminalDirectory(sys.stderr)
    async with Runtime(_local(settings)) as runtime:
        runtime.service.register_chat(terminal)
        await signals.race(runtime.start())
        task = await signals.race(runtime.service.submit(request))
        try:
            failure = await signals.race(terminal.outcome(task.id))
        except _Interrupted:
            terminal.say(
                f"Stopped. Task {task.id} is saved; `sorabot resume` finishes it."
            )
            raise
        await _until_recorded(runtime, task.id)
    return EXIT_OK if failure is None else EXIT_FAILED


async def _resume(settings: Settings, signals: _Signals) -> int:
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


async def _run(settings: Settings, signals: _Signals) -> int:
    if not (settings.discord_enabled or settings.slack_enabled):
        sys.stderr.write(f"{NOTHING_CONFIGURED}\n")
        return EXIT_USAGE
    async with Runtime(settings) as runtime, contextlib.AsyncExitStack() as stack:
        # Command-line tasks interrupted earlier are finished by the long-running bot.
        runtime.service.register_chat(TerminalDirectory(sys.stderr))
        # Adapters are imported only when configured: the core needs no chat SDK.
        if settings.discord_enabled:
            from adapters.discord import attach as attach_discord

            await attach_discord(runtime, stack)
        if settings.slack_enabled:
            from adapters.slack import attach as attach_slack

            await attach_slack(runtime, stack)
        signals.on_signal(runtime.stop)
        await runtime.start()
        log.info("sorabot is running; stop it with SIGTERM or Ctrl-C")
        await runtime.wait_stopped()
        log.info("stopping; unfinished tasks resume on the next start")
    return EXIT_OK


async def _tasks(settings: Settings, limit: int) -> int:
    path = settings.sqlite_path
    if not path.exists():
        sys.stdout.write(f"No tasks yet (no database at {path}).\n")
        return EXIT_OK
    async with SqliteTaskStore.open(path) as store:
        tasks = await store.recent(limit)
    rows = [("ID", "STATE", "PROGRESS", "CREATED", "PROMPT")]
    for task in tasks:
        prompt = " ".join(task.request.prompt.split())
        if len(prompt) > 48:
            prompt = prompt[:47] + "…"
        created = task.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        rows.append((task.id, task.state, f"{task.progress.percent}%", created, prompt))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[4]]) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sorabot",
        description="Sora video generation for Discord and Slack, and from here.",
        epilog="Settings come from the environment or .env; see the README.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        help="make one video and write it to --out",
        description="Make one video through the whole bot, with a progress bar.",
    )
    generate.add_argument("prompt", metavar="PROMPT", help="what the video shows")
    generate.add_argument("--out", required=True, metavar="PATH", help="MP4 to write")
    generate.add_argument(
        "--image", metavar="PATH", help="reference image (jpg/png/webp)"
    )
    generate.add_argument("--model", metavar="M", help="default: SORA_MODEL")
    generate.add_argument("--seconds", type=int, metavar="N", help="10, 15 or 25")
    generate.add_argument(
        "--orientation",
        choices=[o.value for o in Orientation],
        default=Orientation.LANDSCAPE.value,
    )
    generate.add_argument("--hd", action="store_true", help="HD (sora-2-pro)")
    generate.add_argument(
        "--private", action="store_true", help="ask the provider not to publish it"
    )
    generate.add_argument("--style", metavar="S", help="a style the provider offers")

    commands.add_parser(
        "run",
        help="run the bot on the configured chat platforms",
        description="Start Discord and/or Slack, the HTTP server and the tracker.",
    )
    commands.add_parser(
        "resume",
        help="finish command-line tasks interrupted earlier, then exit",
        description="Finish the generate tasks in flight when sorabot last stopped.",
    )
    tasks = commands.add_parser("tasks", help="list recent tasks")
    tasks.add_argument("--limit", type=int, default=20, metavar="N")
    return parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Only names and reasons: the offending input could be a secret.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def _configure_logging(settings: Settings, command: str) -> None:
    level_name = settings.log_level.upper()
    # A one-off command shows its own progress; chatter only when asked for it.
    if command != "run" and "log_level" not in settings.model_fields_set:
        level_name = "WARNING"
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level_name!r}."
        )
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if level > logging.DEBUG:
        # Health checks every few seconds would drown everything else.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    signals = _Signals()
    signals.install()
    try:
        if args.command == "generate":
            return await _generate(args, settings, signals)
        if args.command == "resume":
            return await _resume(settings, signals)
        if args.command == "run":
            return await _run(settings, signals)
        return await _tasks(settings, args.limit)
    except _Interrupted as exc:
        return 128 + exc.signum


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sorabot`` console script; returns the exit status."""
    if isinstance(sys.stderr, io.TextIOWrapper):
        # The progress bar is drawn with block characters; never crash on a terminal
        # that cannot show them.
        sys.stderr.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    try:
        settings = _settings()
        _configure_logging(settings, args.command)
        return asyncio.run(_dispatch(args, settings))
    except UserInputError as exc:
        _fail(exc.user_message)
        return EXIT_USAGE
    except ConfigError as exc:
        _fail(f"configuration: {exc.user_message}")
        return EXIT_USAGE
    except BotError as exc:
        _fail(exc.user_message)
        return EXIT_FAILED
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        _fail(f"unexpected {type(exc).__name__}; set LOG_LEVEL=DEBUG for details.")
        return EXIT_FAILED


def _fail(reason: str, stream: TextIO | None = None) -> None:
    (stream or sys.stderr).write(f"sorabot: {reason}\n")
