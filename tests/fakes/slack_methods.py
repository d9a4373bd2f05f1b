"""The fake Slack's Web API methods: what each one does to the fake's state.

Each takes the fake and the call's merged arguments and returns the JSON body
(``{"ok": False, "error": ...}`` for Slack's errors; ``ok: True`` is added).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakes.slack_records import Message, UploadedFile, parse_blocks

if TYPE_CHECKING:
    from tests.fakes.slack import FakeSlack


def post_message(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = args.get("channel", "")
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    if channel in fake.outside:
        return {"ok": False, "error": "not_in_channel"}
    thread_ts = args.get("thread_ts") or None
    if thread_ts is not None and (channel, thread_ts) not in fake.messages:
        return {"ok": False, "error": "thread_not_found"}
    text, blocks = args.get("text", ""), parse_blocks(args.get("blocks"))
    message = Message(channel, fake.new_ts(), text, blocks, thread_ts)
    message.versions.append((text, blocks))
    fake.messages[(channel, message.ts)] = message
    return {"channel": channel, "ts": message.ts, "message": {"text": text}}


def update_message(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    message = fake.messages.get((args.get("channel", ""), args.get("ts", "")))
    if message is None:
        return {"ok": False, "error": "message_not_found"}
    message.text = args.get("text", message.text)
    if "blocks" in args:
        message.blocks = parse_blocks(args["blocks"])
    message.versions.append((message.text, message.blocks))
    return {"channel": message.channel, "ts": message.ts}


def post_ephemeral(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    fake.ephemerals.append(
        {
            "channel": args.get("channel"),
            "user": args.get("user"),
            "text": args.get("text", ""),
            "blocks": parse_blocks(args.get("blocks")),
        }
    )
    return {"message_ts": fake.new_ts()}


def open_view(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    view = args.get("view")
    view = json.loads(view) if isinstance(view, str) else dict(view or {})
    view_id = args.get("view_id") or fake.new_id("V")
    view.update(id=view_id, hash=uuid.uuid4().hex, team_id=fake.team_id)
    fake.views[view_id] = view
    return {"view": view}


def user_info(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    user_id = args.get("user", "")
    if user_id not in fake.users:
        fake.add_user(user_id)
    return {"user": fake.users[user_id]}


def usergroup_users(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    group = args.get("usergroup", "")
    if group not in fake.usergroups:
        return {"ok": False, "error": "no_such_subteam"}
    return {"users": list(fake.usergroups[group])}


def auth_test(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "https://fake.slack.com/",
        "team": "Fake",
        "user": "sorabot",
        "team_id": fake.team_id,
        "user_id": fake.bot_user_id,
        "bot_id": "BBOT",
    }


def open_connection(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return {"url": f"ws://127.0.0.1:{fake.port}/link"}


def upload_url(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    file_id = fake.new_id("F")
    name = args.get("filename", "")
    fake.pending_uploads[file_id] = UploadedFile(file_id, name, None, b"")
    return {"file_id": file_id, "upload_url": f"{fake.base_url}/upload/{file_id}"}


def complete_upload(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    items = json.loads(args.get("files", "[]"))
    channel, thread_ts = args.get("channel_id"), args.get("thread_ts") or None
    done = []
    for item in items:
        upload = fake.pending_uploads.pop(item["id"], None)
        if upload is None:
            return {"ok": False, "error": "file_not_found"}
        upload.title, upload.channel, upload.thread_ts = (
            item.get("title"),
            channel,
            thread_ts,
        )
        fake.uploaded_files.append(upload)
        done.append(
            {"id": upload.id, "name": upload.filename, "size": len(upload.data)}
        )
    if channel:
        text = args.get("initial_comment", "")
        message = Message(channel, fake.new_ts(), text, [], thread_ts, files=done)
        message.versions.append((text, []))
        fake.messages[(channel, message.ts)] = message
    return {"files": done}


def delete_message(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    key = (args.get("channel", ""), args.get("ts", ""))
    if fake.messages.pop(key, None) is None:
        return {"ok": False, "error": "message_not_found"}
    fake.deleted_messages.append(key)
    return {"channel": key[0], "ts": key[1]}


def delete_file(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    """Like Slack: the file goes, and with it from every message that shared it."""
    file_id = args.get("file", "")
    kept = [f for f in fake.uploaded_files if f.id != file_id]
    if len(kept) == len(fake.uploaded_files):
        return {"ok": False, "error": "file_not_found"}
    fake.uploaded_files[:] = kept
    for message in fake.messages.values():
        message.files = [f for f in message.files if f.get("id") != file_id]
    fake.deleted_files.append(file_id)
    return {}


HANDLERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": auth_test,
    "apps.connections.open": open_connection,
    "chat.postMessage": post_message,
    "chat.update": update_message,
    "chat.delete": delete_message,
    "files.delete": delete_file,
    "chat.postEphemeral": post_ephemeral,
    "views.open": open_view,
    "views.update": open_view,
    "views.push": open_view,
    "users.info": user_info,
    "usergroups.users.list": usergroup_users,
    "files.getUploadURLExternal": upload_url,
    "files.completeUploadExternal": complete_upload,
}
