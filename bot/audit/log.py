"""``AuditLog``: every entry goes to the database, then to the server's audit
channel when moderators chose one.

The database is the record (``sorabot audit`` exports it); the channel is where
moderators read it and act (Takedown). Recording never fails the action it
records: a channel that cannot be posted to is logged, and the entry is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.audit.entries import (
    AuditEntry,
    refused_entry,
    setting_entry,
    takedown_entry,
    video_entry,
)
from bot.chats import ChatRouter
from bot.governance import PriceEntry, RefusedAttempt, SettingChange, price_of
from bot.models import ChatRef, Platform, Requester, Task
from bot.ports import Scope, TaskStore
from bot.rendering import outcome_label, provider_label

log = logging.getLogger(__name__)

# The settings key of a server's audit channel (a channel id; unset: none).
AUDIT_CHANNEL = "audit_channel"


class AuditLog:
    """Records entries in ``store`` and posts them through the chat directories;
    it is the ``AuditSink`` governance reports refusals and settings changes to.

    Args:
        store: keeps the entries and the audit channel setting.
        chats: the chat directories; each posts to its platform's audit channel.
        prices: the operator's price table (``SORA_PRICES``); empty: no price.
        currency: the price's currency name (``CURRENCY``).
    """

    def __init__(
        self,
        store: TaskStore,
        chats: ChatRouter,
        prices: Sequence[PriceEntry] = (),
        currency: str = "",
    ) -> None:
        self._store = store
        self._chats = chats
        self._prices = prices
        self._currency = currency

    async def channel(self, platform: Platform, workspace_id: str) -> str | None:
        """The server's audit channel id, if moderators chose one."""
        scope = Scope(platform=platform, workspace_id=workspace_id)
        return await self._store.get_setting(scope, AUDIT_CHANNEL)

    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Store ``entry`` and post it to the audit channel; never raises."""
        try:
            entry = await self._store.add_audit(entry)
        except Exception:
            log.exception("could not store an audit entry (%s)", entry.kind.value)
        channel_id = await self.channel(entry.platform, entry.workspace_id)
        directory = self._chats.directory(entry.platform)
        if channel_id is None or directory is None:
            return entry
        where = ChatRef(
            platform=entry.platform,
            workspace_id=entry.workspace_id,
            channel_id=channel_id,
        )
        try:
            await directory.post_audit(where, entry)
        except Exception:
            log.exception(
                "could not post to the audit channel %s of %s",
                channel_id,
                entry.workspace_id,
            )
        return entry

    async def video_finished(self, task: Task) -> None:
        """A generation ended (delivered, failed or cancelled); priced when the
        operator has a price table (refunds are governance's business)."""
        price = None
        if self._prices:
            names = (task.provider, task.dialect)
            price = price_of(self._prices, names, task.request)
        await self.record(
            video_entry(
                task, outcome_label(task), provider_label(task), price, self._currency
            )
        )

    async def refused(self, attempt: RefusedAttempt) -> None:
        """Governance refused a request before anything was sent."""
        await self.record(refused_entry(attempt))

    async def setting_changed(self, change: SettingChange) -> None:
        """A moderator changed a setting (governance's or the service's)."""
        if change.before != change.after:
            await self.record(setting_entry(change))

    async def taken_down(self, task: Task, who: Requester) -> None:
        await self.record(takedown_entry(task, who, provider_label(task)))
