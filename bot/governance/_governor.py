"""``Governor``: the one place that decides gates, blocked words, quotas and refunds.

The service asks it twice per request: ``screen`` before anything else (channel,
role or user gate, blocked words) and ``reserve`` when the task is accepted (the
quota check and the ledger entry in one store transaction). The tracker and the
service call ``refund`` when a video fails or is cancelled. Moderators' changes go
through the setters here, which return the sentence to show and tell the audit
sink. Requests from the command line (the operator's own terminal) are exempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NoReturn
from zoneinfo import ZoneInfo

from bot.errors import UserInputError
from bot.governance._audit import (
    AuditSink,
    NoAudit,
    RefusalReason,
    SettingChange,
    refused,
)
from bot.governance._gates import (
    SLACK_GROUP_PREFIX,
    GroupDirectory,
    channel_mention,
    channel_refusal,
    listing,
    member_mention,
    role_refusal,
    server_word,
    user_refusal,
)
from bot.governance._prices import price_of
from bot.governance._quota import (
    Caps,
    Limit,
    first_exceeded,
    money,
    periods,
    refusal_sentence,
    to_micros,
    zone_label,
)
from bot.governance._refunds import UNSENT, refund_kind
from bot.governance._settings import (
    CHANNELS,
    LIMIT_KEYS,
    MEMBERS,
    NO_LIMIT,
    TIMEZONE,
    WORDS,
    limit_label,
    parse_limit_value,
    parse_zone,
)
from bot.governance._words import (
    MAX_ENTRIES,
    check_entry,
    compile_entries,
    dump_entries,
    load_entries,
    matcher_for,
)
from bot.models import FailureKind, GenerationRequest, Platform, Task, utcnow
from bot.ports import Scope, TaskStore, UsageClaim, UsageQuery, VideoProvider

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")
BLOCKED = (
    "Sorry, your prompt contains something that isn't allowed here, so nothing was "
    "sent. Please rephrase it."
)


class Refused(UserInputError):
    """Refused by a gate, the word list or a quota; nothing was sent."""

    def __init__(self, message: str, reason: RefusalReason) -> None:
        super().__init__(message)
        self.reason = reason
        # Gate sentences name channels and roles; the others are plain text.
        self.has_mentions = reason in (
            RefusalReason.CHANNEL,
            RefusalReason.ROLE,
            RefusalReason.USER,
        )


def workspace_of(request: GenerationRequest) -> Scope:
    return Scope(platform=request.chat.platform, workspace_id=request.chat.workspace_id)


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _ids(stored: str | None) -> list[str]:
    return load_entries(stored)


class Governor:
    """Quotas, budgets, refunds, blocked words and gates (see the module doc).

    Args:
        store: settings and the usage ledger.
        settings: the operator's defaults (limits, prices, refunds, global words).
        audit: told about every refused attempt and settings change.
        clock: now, as an aware datetime (tests move it across midnight).
    """

    def __init__(
        self,
        store: TaskStore,
        settings: Settings,
        *,
        audit: AuditSink | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._settings = settings
        self.audit: AuditSink = audit or NoAudit()
        self._clock = clock
        self._groups: dict[Platform, GroupDirectory] = {}
        self._global_words = compile_entries(settings.blocked_words)

    def register_groups(self, platform: Platform, directory: GroupDirectory) -> None:
        """Where user-group membership is looked up for ``platform``'s user gate."""
        self._groups[platform] = directory

    # -- members' requests -----------------------------------------------------

    async def screen(self, request: GenerationRequest) -> None:
        """Raise ``Refused`` if a gate or a blocked word stops ``request``."""
        if request.chat.platform is Platform.CLI:
            return
        scope = workspace_of(request)
        await self._check_gates(request, scope)
        hit = self._global_words.find(request.prompt)
        if hit is None:
            stored = await self._store.get_setting(scope, WORDS)
            hit = matcher_for(stored).find(request.prompt)
        if hit is not None:
            await self._refuse(request, RefusalReason.BLOCKED_WORD, hit, BLOCKED)

    async def reserve(self, task: Task, provider: VideoProvider) -> None:
        """Count ``task`` against every limit, or raise ``Refused`` (nothing kept)."""
        request = task.request
        if request.chat.platform is Platform.CLI:
            return
        scope = workspace_of(request)
        caps = await self.caps(scope)
        when = periods(self._clock(), await self.zone(scope))
        names = (provider.name, provider.dialect)
        cost = to_micros(price_of(self._settings.sora_prices, names, request))
        claim = UsageClaim(
            task_id=task.id,
            platform=scope.platform,
            workspace_id=scope.workspace_id,
            user_id=request.requester.user_id,
            cost_micros=cost,
            at=when.now,
        )
        refusal = await self._store.reserve_usage(
            claim,
            self._query(
                scope, request.requester.user_id, when.day_start, when.month_start
            ),
            lambda totals: first_exceeded(caps, totals, cost),
        )
        if refusal is not None:
            sentence = refusal_sentence(
                refusal,
                cost=cost,
                when=when,
                currency=self._settings.currency,
                server=server_word(scope.platform),
            )
            await self._refuse(
                request, RefusalReason.QUOTA, refusal.limit.value, sentence
            )

    async def refund(self, task: Task, failure: FailureKind | None) -> None:
        """Give ``task`` back to the counts if its failure kind is refunded.

        ``failure`` None means cancelled. Idempotent: the ledger refunds once.
        """
        if task.provider_task_id is None:
            kind: str | None = UNSENT  # it never counted
        else:
            refund = refund_kind(failure)
            kind = refund if refund in self._settings.refund_on else None
        if kind is not None and await self._store.refund_usage(
            task.id, kind, self._clock()
        ):
            log.info("task %s refunded (%s)", task.id, kind)

    # -- effective settings --------------------------------------------------------

    async def caps(self, scope: Scope) -> Caps:
        defaults = {
            Limit.USER_DAILY_VIDEOS: self._settings.user_daily_videos,
            Limit.SERVER_DAILY_VIDEOS: self._settings.server_daily_videos,
            Limit.SERVER_DAILY_BUDGET: self._settings.server_daily_budget,
            Limit.SERVER_MONTHLY_BUDGET: self._settings.server_monthly_budget,
        }
        caps: Caps = {}
        for limit, key in LIMIT_KEYS.items():
            stored = await self._store.get_setting(scope, key)
            if stored == NO_LIMIT:
                caps[limit] = None
            elif stored is not None:
                caps[limit] = self._cap(limit, stored)
            else:
                default = defaults[limit]
                caps[limit] = None if default is None else self._cap(limit, default)
        return caps

    @staticmethod
    def _cap(limit: Limit, value: object) -> int:
        return to_micros(Decimal(str(value))) if limit.money else int(str(value))

    async def zone(self, scope: Scope) -> ZoneInfo:
        stored = await self._store.get_setting(scope, TIMEZONE)
        return UTC_ZONE if stored is None else ZoneInfo(stored)

    # -- moderators ----------------------------------------------------------------

    async def set_limit(
        self, scope: Scope, limit: Limit, value: str | None, by: str
    ) -> str:
        """Set (``value``: a number or ``none``) or clear (None) a limit here."""
        stored = None if value is None else parse_limit_value(limit, value)
        await self.change_setting(scope, LIMIT_KEYS[limit], stored, by)
        label = limit_label(limit, scope.platform)
        where = self._where(scope)
        now = self._cap_text(limit, (await self.caps(scope))[limit])
        if stored is None:
            return f"{label} {where}: back to the operator's default ({now})."
        return f"{label} {where}: {now}."

    async def add_word(self, scope: Scope, entry: str, by: str) -> str:
        entry = check_entry(entry)
        entries = load_entries(await self._store.get_setting(scope, WORDS))
        if entry in entries:
            return f"`{entry}` is already blocked {self._where(scope)}."
        if len(entries) >= MAX_ENTRIES:
            raise UserInputError(
                f"The list is full ({MAX_ENTRIES} entries); remove some first."
            )
        await self.change_setting(scope, WORDS, dump_entries([*entries, entry]), by)
        return (
            f"Blocked {self._where(scope)}: `{entry}` ({_entries(len(entries) + 1)})."
        )

    async def remove_word(self, scope: Scope, entry: str, by: str) -> str:
        entry = entry.strip()
        entries = load_entries(await self._store.get_setting(scope, WORDS))
        if entry not in entries:
            return f"`{entry}` is not on the list {self._where(scope)}."
        entries.remove(entry)
        await self.change_setting(scope, WORDS, dump_entries(entries), by)
        where = self._where(scope)
        return f"No longer blocked {where}: `{entry}` ({_entries(len(entries))})."

    async def list_words(self, scope: Scope, max_chars: int = 1900) -> str:
        """The list for moderators, cut to ``max_chars`` (a chat message's room)."""
        entries = load_entries(await self._store.get_setting(scope, WORDS))
        operator = len(self._settings.blocked_words)
        extra = f" The operator blocks {operator} more everywhere." if operator else ""
        if not entries:
            return f"No blocked words {self._where(scope)}.{extra}"
        head = f"Blocked words {self._where(scope)} ({len(entries)}):{extra}\n"
        lines: list[str] = []
        used = len(head)
        for number, entry in enumerate(entries):
            line = f"`{entry}`"
            if used + len(line) + 40 > max_chars:
                lines.append(f"… and {len(entries) - number} more")
                break
            lines.append(line)
            used += len(line) + 2
        return head + ", ".join(lines)

    async def allow_channel(self, scope: Scope, channel_id: str, by: str) -> str:
        channels = _ids(await self._store.get_setting(scope, CHANNELS))
        if channel_id not in channels:
            channels.append(channel_id)
            await self.change_setting(scope, CHANNELS, dump_entries(channels), by)
        where = listing([channel_mention(c) for c in channels], "and")
        return f"/sora now works only in {where} {self._where(scope)}."

    async def clear_channels(self, scope: Scope, by: str) -> str:
        await self.change_setting(scope, CHANNELS, None, by)
        return f"/sora now works in every channel {self._where(scope)}."

    async def allow_members(
        self, scope: Scope, member_ids: Sequence[str], by: str
    ) -> str:
        """Discord: roles allowed; Slack: users and user groups allowed."""
        members = _ids(await self._store.get_setting(scope, MEMBERS))
        added = [m for m in member_ids if m not in members]
        if added:
            members += added
            await self.change_setting(scope, MEMBERS, dump_entries(members), by)
        who = self._members_text(scope, members)
        return f"/sora is now open only to {who} {self._where(scope)}."

    async def clear_members(self, scope: Scope, by: str) -> str:
        await self.change_setting(scope, MEMBERS, None, by)
        return f"/sora is now open to everyone {self._where(scope)}."

    async def set_timezone(self, scope: Scope, name: str | None, by: str) -> str:
        """A zoneinfo name; None or ``UTC`` goes back to UTC."""
        zone = UTC_ZONE if name is None else parse_zone(name)
        stored = None if zone_label(zone) == "UTC" else zone.key
        await self.change_setting(scope, TIMEZONE, stored, by)
        where, label = self._where(scope), zone_label(zone)
        return f"Days and months {where} now start at 00:00 {label}."

    async def member_use(self, scope: Scope, user_id: str) -> str:
        """One member's videos today against their daily limit (``/sora-info``)."""
        caps = await self.caps(scope)
        when = periods(self._clock(), await self.zone(scope))
        totals = await self._store.usage_totals(
            self._query(scope, user_id, when.day_start, when.month_start)
        )
        made = totals.user_day_videos
        cap = caps[Limit.USER_DAILY_VIDEOS]
        of = (
            ""
            if cap is None
            else f" of your {self._cap_text(Limit.USER_DAILY_VIDEOS, cap)}"
        )
        return f"Today you have made {made} video{'' if made == 1 else 's'}{of}."

    async def describe(self, scope: Scope) -> str:
        """Every governance setting in force here, with today's use."""
        caps = await self.caps(scope)
        zone = await self.zone(scope)
        when = periods(self._clock(), zone)
        totals = await self._store.usage_totals(
            self._query(scope, "", when.day_start, when.month_start)
        )
        currency = self._settings.currency
        used = {
            Limit.SERVER_DAILY_VIDEOS: f"{totals.server_day_videos} made today",
            Limit.SERVER_DAILY_BUDGET: (
                f"{money(totals.server_day_micros, currency)} spent today"
            ),
            Limit.SERVER_MONTHLY_BUDGET: (
                f"{money(totals.server_month_micros, currency)} spent this month"
            ),
        }
        label = zone_label(zone)
        lines = [f"Limits {self._where(scope)} (days start at 00:00 {label}):"]
        for limit in Limit:
            note = f"; {used[limit]}" if limit in used else ""
            cap = self._cap_text(limit, caps[limit])
            lines.append(f"- {limit_label(limit, scope.platform)}: {cap}{note}")
        channels = _ids(await self._store.get_setting(scope, CHANNELS))
        members = _ids(await self._store.get_setting(scope, MEMBERS))
        words = load_entries(await self._store.get_setting(scope, WORDS))
        where = (
            listing([channel_mention(c) for c in channels], "and")
            if channels
            else "every channel"
        )
        who = self._members_text(scope, members) if members else "everyone"
        operator = len(self._settings.blocked_words)
        lines.append(f"- /sora works in: {where}")
        lines.append(f"- Open to: {who}")
        lines.append(
            f"- Blocked words: {len(words)} here, {operator} from the operator"
        )
        return "\n".join(lines)

    # -- helpers -------------------------------------------------------------------

    async def _check_gates(self, request: GenerationRequest, scope: Scope) -> None:
        chat = request.chat
        channels = _ids(await self._store.get_setting(scope, CHANNELS))
        message = channel_refusal(
            chat.platform, chat.channel_id, channels, chat.parent_channel_id
        )
        if message is not None:
            await self._refuse(request, RefusalReason.CHANNEL, chat.channel_id, message)
        members = _ids(await self._store.get_setting(scope, MEMBERS))
        if not members:
            return
        requester = request.requester
        if chat.platform is Platform.DISCORD:
            message = role_refusal(chat.platform, requester.roles, members)
            if message is not None:
                await self._refuse(
                    request, RefusalReason.ROLE, ",".join(requester.roles), message
                )
        elif not await self._member_allowed(scope, requester.user_id, members):
            await self._refuse(
                request,
                RefusalReason.USER,
                requester.user_id,
                user_refusal(chat.platform, members),
            )

    async def _member_allowed(
        self, scope: Scope, user_id: str, allowed: Sequence[str]
    ) -> bool:
        if user_id in allowed:
            return True
        directory = self._groups.get(scope.platform)
        if directory is None:
            return False
        for group in allowed:
            if group.startswith(
                SLACK_GROUP_PREFIX
            ) and user_id in await directory.members(scope.workspace_id, group):
                return True
        return False

    async def _refuse(
        self,
        request: GenerationRequest,
        reason: RefusalReason,
        detail: str,
        message: str,
    ) -> NoReturn:
        log.info(
            "refused a request from %s in %s/%s: %s",
            request.requester.user_id,
            request.chat.workspace_id,
            request.chat.channel_id,
            reason.value,
        )
        try:
            await self.audit.refused(refused(request, reason, detail, message))
        except Exception:
            log.exception("the audit sink failed to record a refused attempt")
        raise Refused(message, reason)

    async def change_setting(
        self, scope: Scope, key: str, value: str | None, by: str
    ) -> None:
        """Store a setting and tell the audit sink who changed it, from what to
        what (``by`` is a user id)."""
        before = await self._store.get_setting(scope, key)
        await self._store.set_setting(scope, key, value)
        log.info("setting %s in %s changed by %s", key, scope.workspace_id, by)
        change = SettingChange(
            scope=scope, key=key, before=before, after=value, by=by, at=self._clock()
        )
        try:
            await self.audit.setting_changed(change)
        except Exception:
            log.exception("the audit sink failed to record a settings change")

    @staticmethod
    def _query(
        scope: Scope, user_id: str, day_start: datetime, month_start: datetime
    ) -> UsageQuery:
        return UsageQuery(
            platform=scope.platform,
            workspace_id=scope.workspace_id,
            user_id=user_id,
            day_start=day_start,
            month_start=month_start,
        )

    def _cap_text(self, limit: Limit, cap: int | None) -> str:
        if cap is None:
            return "no limit"
        if limit.money:
            return money(cap, self._settings.currency)
        return f"{cap} video{'' if cap == 1 else 's'}"

    def _members_text(self, scope: Scope, members: Sequence[str]) -> str:
        names = listing([member_mention(scope.platform, m) for m in members])
        if scope.platform is Platform.DISCORD:
            return f"members with the {names} role{'' if len(members) == 1 else 's'}"
        return names

    @staticmethod
    def _where(scope: Scope) -> str:
        return (
            f"on this {server_word(scope.platform)}"
            if scope.platform is not Platform.SLACK
            else "in this workspace"
        )
