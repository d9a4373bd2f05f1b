"""The audit log and takedown through a real runtime (recording chat, simulator)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.audit.entries import AuditKind
from bot.audit.export import COLUMNS, parse_since, write
from bot.errors import PermissionDenied, UserInputError
from bot.governance import RefusalReason, RefusedAttempt
from bot.models import GenerationRequest, Platform, Requester, utcnow
from bot.ports import Scope
from bot.video_links import VideoLinks
from tests.fakes.tasks import make_request, settled


def _refused(
    request: GenerationRequest,
    detail: str = "",
    reason: RefusalReason = RefusalReason.BLOCKED_WORD,
) -> RefusedAttempt:
    return RefusedAttempt(
        request=request, reason=reason, detail=detail, message="no", at=utcnow()
    )


WORKSPACE = Scope(platform=Platform.CLI, workspace_id="w1")
MOD = Requester(user_id="mod", display_name="Mo")
ANN = Requester(user_id="u1", display_name="Ann")


async def test_every_video_and_settings_change_is_recorded_and_posted(
    make_runtime,
) -> None:
    runtime = await make_runtime(SORA_PRICES=json.dumps([{"price": "0.40"}]))
    service = runtime.service
    await service.set_audit_channel(WORKSPACE, "audit-room", by=MOD)
    await service.set_user_limit(Platform.CLI, "w1", 2, by=MOD)
    await service.set_private_mode(WORKSPACE, False, by=MOD)
    task = await service.submit(make_request())
    await settled(runtime, task.id)
    await runtime.chat.wait_for(lambda: len(runtime.chat.audits) == 4)

    entries = await runtime.store.audit_entries()

    assert [(e.kind, e.setting) for e in entries] == [
        (AuditKind.SETTING, "audit_channel"),
        (AuditKind.SETTING, "user_limit"),
        (AuditKind.SETTING, "private_mode"),
        (AuditKind.VIDEO, ""),
    ]
    assert (entries[1].old_value, entries[1].new_value) == (None, "2")
    assert entries[3].outcome == "done"
    assert (entries[3].price, entries[3].currency) == (Decimal("0.40"), "USD")
    assert entries[3].task_id == task.id
    assert entries[3].can_take_down
    assert [e for _, e in runtime.chat.audits] == entries
    assert {c.channel_id for c, _ in runtime.chat.audits} == {"audit-room"}


async def test_a_refused_attempt_is_recorded_for_moderators(make_runtime) -> None:
    runtime = await make_runtime(start=False)

    await runtime.audit.refused(_refused(make_request("bad word"), "bad"))

    [entry] = await runtime.store.audit_entries()
    assert (entry.kind, entry.outcome, entry.detail) == (
        AuditKind.REFUSED,
        "refused (blocked_word)",
        "bad",
    )


async def test_takedown_deletes_the_copies_and_refuses_retry_and_remix(
    make_runtime, tmp_path: Path
) -> None:
    runtime = await make_runtime()
    task = await runtime.service.submit(make_request())
    done = await settled(runtime, task.id)
    assert done.result is not None
    video = Path(done.result.path)
    links = VideoLinks("https://bot.example", tmp_path / "media" / "links", 7)
    await links.publish(video)

    with pytest.raises(PermissionDenied, match="Only moderators"):
        await runtime.service.take_down(task.id, ANN, moderator=False)
    kept = await asyncio.to_thread(video.exists)
    removed = await runtime.service.take_down(task.id, MOD, moderator=True)

    assert kept
    assert not await asyncio.to_thread(video.exists)
    assert list((tmp_path / "media" / "links").iterdir()) == []
    stored = await runtime.store.get(task.id)
    assert stored.taken_down_by == "mod"
    assert stored.taken_down_at == removed.taken_down_at
    assert [e.kind for e in runtime.chat.of(task.id)][-2:] == ["removed", "edit"]
    with pytest.raises(UserInputError, match="removed by a moderator"):
        await runtime.service.retry(task.id, ANN)
    with pytest.raises(UserInputError, match="removed by a moderator"):
        await runtime.service.remix(task.id, "again", ANN)
    with pytest.raises(UserInputError, match="already removed"):
        await runtime.service.take_down(task.id, MOD, moderator=True)
    [entry] = [
        e for e in await runtime.store.audit_entries() if e.kind is AuditKind.TAKEDOWN
    ]
    assert entry.user_id == "mod"


async def test_audit_entries_filter_by_server_and_since(make_runtime) -> None:
    runtime = await make_runtime(start=False)
    await runtime.audit.refused(_refused(make_request(workspace="w1")))
    await runtime.audit.refused(_refused(make_request(workspace="w2")))

    one = await runtime.store.audit_entries(workspace_id="w2")
    later = await runtime.store.audit_entries(since=parse_since("2999-01-01"))

    assert [e.workspace_id for e in one] == ["w2"]
    assert later == []


def test_since_must_be_a_date() -> None:
    with pytest.raises(UserInputError, match="not a date like 2026-12-01"):
        parse_since("yesterday")


async def test_the_csv_export_has_one_row_per_entry_under_its_header(
    make_runtime,
) -> None:
    runtime = await make_runtime(start=False)
    await runtime.audit.refused(
        _refused(make_request('a, quoted "prompt"'), "5/5", RefusalReason.QUOTA)
    )
    out = io.StringIO()

    write(await runtime.store.audit_entries(), out, "csv")

    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(row) == list(COLUMNS)
    assert (row["kind"], row["prompt"], row["detail"]) == (
        "refused",
        'a, quoted "prompt"',
        "5/5",
    )
