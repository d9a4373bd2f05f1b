"""Pure parsing of ``/sora`` and ``/sora-admin`` text into options.

Slash commands carry only text, so options ride along as flags after (or among) the
words of the prompt. Only flags the configured providers offer (``Offer``) are
accepted; whether a combination is allowed (``--25s`` without ``--pro``) is the
core's call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.capabilities import Offer, either
from bot.errors import UserInputError
from bot.governance import Limit
from bot.models import Orientation

ADMIN_USAGE = (
    "Usage: `/sora-admin private on|off [#channel]` turns private mode on or off "
    "for the workspace (or one channel); `/sora-admin private default #channel` "
    "makes a channel follow the workspace again; `/sora-admin limit N` sets how "
    "many videos one person may have in progress; "
    "`/sora-admin audit #channel` (or `off`) picks the audit channel; "
    "`/sora-admin limits set|clear <limit> [N|none]` (limits: "
    + ", ".join(f"`{limit.value}`" for limit in Limit)
    + "); `/sora-admin words add|remove <entry>` and `/sora-admin words list` "
    "(an entry is a word, a phrase, or `re:` and a regular expression); "
    "`/sora-admin channels allow #channel…` or `channels clear`; "
    "`/sora-admin users allow @person @group…` or `users clear`; "
    "`/sora-admin timezone Europe/Berlin`; `/sora-admin` shows the current settings."
)

# ``/sora help`` and friends: a word alone that is a command, never a prompt
# (a video of the word "help" would cost the operator for nothing).
VERBS = frozenset({"help", "info", "mine"})

# macOS and iOS turn a typed "--" into an en or em dash ("smart dashes"), so a flag
# may arrive as "—pro"; all three spellings mean the same flag.
_FLAG = re.compile(r"^(?:--|\u2014|\u2013)([a-z0-9][a-z0-9-]*)$", re.IGNORECASE)
_SECONDS = re.compile(r"^(\d{1,3})s?$")
# With "Escape channels" on (see the manifest), Slack sends <#C123|general>.
_CHANNEL = re.compile(r"^<#([A-Z0-9]+)(?:\|[^>]*)?>$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")
# Slack escapes these three in command text.
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


class CommandSyntaxError(UserInputError):
    """The command text does not follow the syntax; the message shows the syntax."""


def parse_verb(text: str) -> str | None:
    """``help``, ``info`` or ``mine`` when that word is all the text, else None."""
    word = text.strip().lower()
    return word if word in VERBS else None


@dataclass(frozen=True)
class CommandOptions:
    """What ``/sora`` text (or the form) asks for; ``None`` means "the default"."""

    prompt: str
    model: str | None = None
    pro: bool = False
    orientation: Orientation = Orientation.LANDSCAPE
    seconds: int | None = None
    hd: bool = False
    private: bool = False
    style: str | None = None


def usage(offer: Offer) -> str:
    """The ``/sora`` syntax with only the flags this bot's providers offer."""
    pro = offer.pro_model() is not None
    flags = ["[--pro]"] if pro else []
    flags.append("[--portrait]")
    flags.append("[" + "|".join(f"--{s}s" for s in offer.seconds) + "]")
    if offer.hd:
        flags.append("[--hd]")
    if offer.private:
        flags.append("[--private]")
    example = "a corgi surfing at sunset" + (" --pro" if pro else "")
    example += f" --{offer.seconds[-1]}s"
    return (
        f"Usage: `/sora <prompt> {' '.join(flags)}`\n"
        f"e.g. `/sora {example}`. "
        "Type just `/sora` (or only options, e.g. `/sora --portrait`) to open a "
        "form where you can also attach a reference image. "
        "`/sora info` shows your running and waiting videos, `/sora mine` your "
        "newest ones, `/sora help` this help."
    )


def _unavailable(name: str, seconds: int | None, offer: Offer) -> str | None:
    """Why a known flag is not offered here, or ``None`` when it is."""
    if seconds is not None:
        if seconds in offer.seconds:
            return None
        return f"videos here are {either(map(str, offer.seconds))} seconds long"
    if name == "pro" and offer.pro_model() is None:
        return "this bot offers no pro model"
    if name == "hd" and not offer.hd:
        return "this bot's video service does not make HD videos"
    if name == "private" and not offer.private:
        return "this bot's video service cannot keep videos unpublished"
    return None


def parse_command(text: str, offer: Offer) -> CommandOptions:
    """Split flags from the prompt. Raises ``CommandSyntaxError`` for a flag that
    is unknown or that no configured provider offers, with the syntax that works."""
    words: list[str] = []
    switches: set[str] = set()
    orientation = Orientation.LANDSCAPE
    seconds: int | None = None
    for token in text.split():
        match = _FLAG.match(token)
        if match is None:
            words.append(token)
            continue
        name = match.group(1).lower()
        duration = _SECONDS.match(name)
        length = None if duration is None else int(duration.group(1))
        if length is None and name not in ("pro", "hd", "private"):
            if name not in ("portrait", "landscape"):
                raise CommandSyntaxError(
                    f"I don't know the option `{token}`.\n{usage(offer)}"
                )
            orientation = Orientation(name)
            continue
        why = _unavailable(name, length, offer)
        if why is not None:
            raise CommandSyntaxError(
                f"`{token}` is not available here: {why}.\n{usage(offer)}"
            )
        if length is not None:
            seconds = length
        else:
            switches.add(name)
    return CommandOptions(
        prompt=" ".join(words),
        pro="pro" in switches,
        orientation=orientation,
        seconds=seconds,
        hd="hd" in switches,
        private="private" in switches,
    )


@dataclass(frozen=True)
class PrivateCommand:
    """``enabled`` None: the channel follows the workspace again."""

    enabled: bool | None
    channel_id: str | None = None


@dataclass(frozen=True)
class LimitCommand:
    limit: int


@dataclass(frozen=True)
class AuditCommand:
    """``channel_id`` None: stop posting audit entries."""

    channel_id: str | None


@dataclass(frozen=True)
class ShowSettings:
    pass


@dataclass(frozen=True)
class QuotaCommand:
    """``limits set|clear``: ``value`` None clears back to the operator's default."""

    limit: Limit
    value: str | None


@dataclass(frozen=True)
class WordsCommand:
    action: str  # add, remove or list
    entry: str = ""


@dataclass(frozen=True)
class ChannelsCommand:
    """``channels allow`` (ids) or ``channels clear`` (no ids)."""

    channel_ids: tuple[str, ...]


@dataclass(frozen=True)
class UsersCommand:
    """``users allow`` (user and user-group ids) or ``users clear`` (none)."""

    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class TimezoneCommand:
    zone: str


GovernanceCommand = (
    QuotaCommand | WordsCommand | ChannelsCommand | UsersCommand | TimezoneCommand
)
AdminCommand = (
    PrivateCommand | LimitCommand | AuditCommand | ShowSettings | GovernanceCommand
)


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _ids(
    args: list[str], patterns: tuple[re.Pattern[str], ...], what: str
) -> tuple[str, ...]:
    ids = []
    for arg in args:
        match = next((m for p in patterns if (m := p.match(arg))), None)
        if match is None:
            raise CommandSyntaxError(
                f"`{arg}` is not {what}. Pick it with `#` or `@` so Slack links it."
            )
        ids.append(match.group(1))
    return tuple(ids)


def _governance(verb: str, args: list[str], text: str) -> AdminCommand | None:
    """The governance commands; None if ``verb`` is none of them."""
    sub = args[0].lower() if args else ""
    if verb == "limits" and sub in ("set", "clear") and len(args) in (2, 3):
        name = args[1].lower()
        if name not in {limit.value for limit in Limit}:
            raise CommandSyntaxError(
                f"There is no limit called `{args[1]}`.\n{ADMIN_USAGE}"
            )
        if sub == "set" and len(args) == 3:
            return QuotaCommand(Limit(name), args[2])
        if sub == "clear" and len(args) == 2:
            return QuotaCommand(Limit(name), None)
    if verb == "words":
        if sub == "list" and len(args) == 1:
            return WordsCommand("list")
        if sub in ("add", "remove") and len(args) >= 2:
            entry = text.split(None, 2)[2]
            return WordsCommand(sub, _unescape(entry).strip())
    if verb == "channels":
        if sub == "clear" and len(args) == 1:
            return ChannelsCommand(())
        if sub == "allow" and len(args) >= 2:
            return ChannelsCommand(_ids(args[1:], (_CHANNEL,), "a channel"))
    if verb == "users":
        if sub == "clear" and len(args) == 1:
            return UsersCommand(())
        if sub == "allow" and len(args) >= 2:
            return UsersCommand(_ids(args[1:], (_USER, _GROUP), "a person or group"))
    if verb == "timezone" and len(args) == 1:
        return TimezoneCommand(args[0])
    return None


def _channel(word: str) -> str:
    match = _CHANNEL.match(word)
    if match is None:
        raise CommandSyntaxError(
            f"`{word}` is not a channel. Pick it with `#` so Slack links it.\n"
            f"{ADMIN_USAGE}"
        )
    return match.group(1)


def parse_admin(text: str) -> AdminCommand:
    """Parse ``/sora-admin`` text. Raises ``CommandSyntaxError`` with the syntax."""
    words = text.split()
    if not words or words in (["status"], ["show"]):
        return ShowSettings()
    verb, args = words[0].lower(), words[1:]
    governance = _governance(verb, args, text)
    if governance is not None:
        return governance
    mode = args[0].lower() if args else ""
    if verb == "private" and 1 <= len(args) <= 2 and mode in ("on", "off"):
        channel_id = _channel(args[1]) if len(args) == 2 else None
        return PrivateCommand(mode == "on", channel_id)
    if verb == "private" and len(args) == 2 and mode == "default":
        return PrivateCommand(None, _channel(args[1]))
    if verb == "audit" and len(args) == 1:
        return AuditCommand(None if mode == "off" else _channel(args[0]))
    if verb == "limit" and len(args) == 1 and args[0].isdigit():
        limit = int(args[0])
        if not 1 <= limit <= 100:
            raise CommandSyntaxError("The limit must be a number from 1 to 100.")
        return LimitCommand(limit)
    raise CommandSyntaxError(ADMIN_USAGE)
