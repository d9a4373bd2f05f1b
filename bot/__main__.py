"""The ``sorabot`` command (also ``python -m bot``): every subcommand starts here.

This is the composition root for every process: it reads settings, configures
logging, opens a ``Runtime`` and, for ``run``, attaches the configured chat adapters.
It is the only module in ``bot/`` allowed to import ``adapters`` (lazily, so the core
works without any chat SDK being importable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import io
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot import logs
from bot.capabilities import Offer
from bot.commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    export_audit,
    generate,
    list_providers,
    list_tasks,
    resume,
)
from bot.config import Settings
from bot.errors import BotError, ConfigError, UserInputError
from bot.models import Orientation, Platform
from bot.runtime import Runtime, configured_profiles, settle_heap
from bot.signals import Interrupted, Signals
from bot.terminal import TerminalDirectory
from bot.wording import for_surface

log = logging.getLogger(__name__)

NOTHING_CONFIGURED = """\
sorabot run: no chat platform is configured. Set, in the environment or in .env:
  Discord:              DISCORD_TOKEN
  Slack (HTTP mode):    SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET
  Slack (Socket Mode):  SLACK_BOT_TOKEN and SLACK_APP_TOKEN
To try it without a chat platform: sorabot generate "a corgi surfing" --out a.mp4"""


async def _run(settings: Settings, signals: Signals) -> int:
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
        settle_heap()
        signals.on_signal(runtime.stop)
        await runtime.start()
        log.info("sorabot is running; stop it with SIGTERM or Ctrl-C")
        await runtime.wait_stopped()
        log.info("stopping; unfinished tasks resume on the next start")
    return EXIT_OK


def positive_int(text: str) -> int:
    """An argparse type for counts: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


async def _invite(settings: Settings) -> int:
    # Lazily: only this command (and the Discord adapter) needs discord.py.
    from adapters.discord.invite import application_id, invite_url

    url = invite_url(await application_id(settings))
    sys.stdout.write(f"{url}\n")
    sys.stderr.write("Open this link and pick the server to add the bot to.\n")
    return EXIT_OK


def _version() -> str:
    try:
        return importlib.metadata.version("sorabot")
    except importlib.metadata.PackageNotFoundError:  # a source tree, not installed
        return "(not installed)"


def _choices(values: Sequence[object]) -> str:
    return ", ".join(map(str, values))


def build_parser(offer: Offer | None = None) -> argparse.ArgumentParser:
    """The command line; ``offer`` (the configured providers') fills in the
    ``generate`` choices, and options no provider has are left out of ``--help``.

    The choices are listed, not enforced by argparse: the core checks them, so a
    wrong one gets its one sentence naming what works, as on Discord and Slack.
    """
    parser = argparse.ArgumentParser(
        prog="sorabot",
        description="Sora video generation for Discord and Slack, and from here.",
        epilog="Settings come from the environment or .env; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"sorabot {_version()}")
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
    _generate_options(generate, offer)

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
    tasks.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N tasks"
    )
    commands.add_parser(
        "invite",
        help="print the link that adds the bot to a Discord server",
        description="Print the Discord invite link with the permissions the bot "
        "needs (application id from DISCORD_APPLICATION_ID or DISCORD_TOKEN).",
    )
    commands.add_parser(
        "providers",
        help="show the configured providers and check each one",
        description=(
            "Print each configured provider (name, dialect, base URL, what it can "
            "do, circuit state) and check that it is reachable and takes its key."
        ),
    )
    audit = commands.add_parser(
        "audit",
        help="export the audit log",
        description="Every finished video, refused attempt, settings change and "
        "takedown recorded in the database, oldest first.",
    )
    audit.add_argument(
        "--server", metavar="ID", help="one Discord server or Slack workspace"
    )
    audit.add_argument(
        "--since", metavar="DATE", help="from this date (UTC), e.g. 2026-12-01"
    )
    audit.add_argument("--format", choices=("csv", "json"), default="csv")
    return parser


def _generate_options(generate: argparse.ArgumentParser, offer: Offer | None) -> None:
    hidden = argparse.SUPPRESS
    models = offer.model_names if offer else ()
    seconds = offer.seconds if offer else ()
    generate.add_argument(
        "--model",
        metavar="M",
        help=f"{_choices(models)} (default: SORA_MODEL, else the first)"
        if models
        else "default: SORA_MODEL",
    )
    generate.add_argument(
        "--seconds",
        type=int,
        metavar="N",
        help=f"{_choices(seconds)} (default: the model's shortest)"
        if seconds
        else "the length in seconds",
    )
    generate.add_argument(
        "--orientation",
        choices=[o.value for o in Orientation],
        default=Orientation.LANDSCAPE.value,
    )
    hd_models = [m.name for m in offer.models if m.hd] if offer else []
    generate.add_argument(
        "--hd",
        action="store_true",
        help=f"HD ({_choices(hd_models)})" if hd_models or offer is None else hidden,
    )
    generate.add_argument(
        "--private",
        action="store_true",
        help="ask the provider not to publish it"
        if offer is None or offer.private
        else hidden,
    )
    styles = offer.styles if offer else ()
    generate.add_argument(
        "--style",
        metavar="S",
        help=_choices(styles) if styles else hidden if offer else "a style",
    )


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


def _load() -> tuple[Settings, Offer] | ConfigError:
    """The settings and what their providers offer, or why they are wrong (so
    ``--help`` still works, and any command reports the configuration)."""
    try:
        settings = _settings()
        return settings, Offer.of(configured_profiles(settings))
    except ConfigError as exc:
        return exc


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
    logs.configure(level, settings.log_format, settings.secrets)
    if level > logging.DEBUG:
        # Health checks every few seconds would drown everything else, and httpx
        # logs every request at INFO: 1,000 lines a second at 10,000 tasks.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    signals = Signals()
    signals.install()
    try:
        if args.command == "generate":
            return await generate(args, settings, signals)
        if args.command == "resume":
            return await resume(settings, signals)
        if args.command == "run":
            return await _run(settings, signals)
        if args.command == "invite":
            return await _invite(settings)
        if args.command == "providers":
            return await list_providers(settings)
        if args.command == "audit":
            return await export_audit(settings, args.server, args.since, args.format)
        return await list_tasks(settings, args.limit)
    except Interrupted as exc:
        return 128 + exc.signum


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sorabot`` console script; returns the exit status."""
    if isinstance(sys.stderr, io.TextIOWrapper):
        # The progress bar is drawn with block characters; never crash on a terminal
        # that cannot show them.
        sys.stderr.reconfigure(errors="replace")
    loaded = _load()
    offer = None if isinstance(loaded, ConfigError) else loaded[1]
    args = build_parser(offer).parse_args(argv)
    try:
        if isinstance(loaded, ConfigError):
            raise loaded
        settings = loaded[0]
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
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over signals
        return 128 + signal.SIGINT
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        _fail(f"unexpected {type(exc).__name__}; set LOG_LEVEL=DEBUG for details.")
        return EXIT_FAILED


def _fail(reason: str) -> None:
    # The core words its errors for chat; the terminal user passes --image and
    # runs the bot themself.
    sys.stderr.write(f"sorabot: {for_surface(reason, Platform.CLI)}\n")


if __name__ == "__main__":
    raise SystemExit(main())
