"""deploy/slack-manifest.yml declares exactly what the adapter registers with bolt.

The registered side is read from a real ``AsyncApp`` built as ``attach`` builds it:
each of its listeners is asked which request it takes (commands, shortcuts, events,
buttons, forms), so a listener registered without its manifest entry, or an entry
with no listener, fails here before Slack ever sends it to the bot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import EVENTS_PATH
from adapters.slack.admins import AdminCheck
from adapters.slack.app import build_app
from adapters.slack.blocks import (
    CANCEL_ACTION,
    GENERATE_VIEW,
    REMIX_ACTION,
    REMIX_VIEW,
    RETRY_ACTION,
    TAKEDOWN_ACTION,
)
from adapters.slack.deps import SlackDeps
from adapters.slack.surface import BOT_EVENTS, COMMANDS, MESSAGE_SHORTCUTS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "slack-manifest.yml"
# The scope each Web API method (as slack-sdk names it) or other access needs.
SCOPE_OF = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",  # a takedown of a linked video (the bot's own)
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
    "files_delete": "files:write",  # a takedown of an uploaded video
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",  # the user-group gate
    "views_open": None,  # needs only the trigger of an interaction
    "url_private": "files:read",  # downloading an image shared in Slack
}
EVENT_SCOPES = {"app_mention": "app_mentions:read"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture
async def app(make_runtime) -> AsyncApp:
    runtime = await make_runtime(start=False)
    client = AsyncWebClient(token="xoxb-manifest-test", base_url="http://127.0.0.1:9/")
    async with aiohttp.ClientSession() as session:
        deps = SlackDeps(
            service=runtime.service,
            settings=runtime.settings,
            session=session,
            token="xoxb-manifest-test",
            admins=AdminCheck(client, ()),
        )
        yield build_app(client, deps, signing_secret="manifest-test")


def _requests() -> dict[tuple[str, str], dict[str, Any]]:
    """One request body per thing the adapter could take, keyed by (kind, id)."""
    team = {"team_id": "T1", "team": {"id": "T1"}, "user": {"id": "U1"}}
    bodies: dict[tuple[str, str], dict[str, Any]] = {}
    for command in COMMANDS:
        bodies["command", command] = {"command": command, "text": "", **team}
    for callback_id in MESSAGE_SHORTCUTS:
        bodies["message_shortcut", callback_id] = {
            "type": "message_action",
            "callback_id": callback_id,
            **team,
        }
    for event in BOT_EVENTS:
        bodies["event", event] = {
            "type": "event_callback",
            "event": {"type": event},
            **team,
        }
    for action in (RETRY_ACTION, REMIX_ACTION, CANCEL_ACTION, TAKEDOWN_ACTION):
        bodies["action", action] = {
            "type": "block_actions",
            "actions": [{"action_id": action, "block_id": "b", "type": "button"}],
            **team,
        }
    for view in (GENERATE_VIEW, REMIX_VIEW):
        bodies["view", view] = {
            "type": "view_submission",
            "view": {"callback_id": view, "type": "modal"},
            **team,
        }
    return bodies


async def _taken_by_each_listener(app: AsyncApp) -> list[set[tuple[str, str]]]:
    bodies = _requests()
    taken = []
    for listener in app._async_listeners:
        matched = set()
        for key, body in bodies.items():
            request = AsyncBoltRequest(body=body, mode="socket_mode")
            if await listener.async_matches(req=request, resp=BoltResponse(status=200)):
                matched.add(key)
        taken.append(matched)
    return taken


async def test_every_listener_takes_exactly_one_known_request(app):
    taken = await _taken_by_each_listener(app)

    assert all(len(keys) == 1 for keys in taken), taken
    assert sorted(key for keys in taken for key in keys) == sorted(_requests())


def test_manifest_declares_the_commands_the_adapter_registers(manifest):
    declared = [c["command"] for c in manifest["features"]["slash_commands"]]

    assert sorted(declared) == sorted(COMMANDS)


def test_manifest_declares_the_message_shortcuts_the_adapter_registers(manifest):
    shortcuts = manifest["features"]["shortcuts"]

    assert {s["type"] for s in shortcuts} == {"message"}
    assert sorted(s["callback_id"] for s in shortcuts) == sorted(MESSAGE_SHORTCUTS)
    assert all(s["name"] and s["description"] for s in shortcuts)


def test_manifest_subscribes_to_the_events_the_adapter_handles(manifest):
    events = manifest["settings"]["event_subscriptions"]["bot_events"]

    assert sorted(events) == sorted(BOT_EVENTS)


def test_manifest_turns_on_interactivity_and_socket_mode(manifest):
    settings = manifest["settings"]

    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True


def test_manifest_explains_http_mode_with_the_events_path():
    text = MANIFEST.read_text(encoding="utf-8")
    commented = re.findall(r"^\s*#\s*(?:url|request_url): (\S+)$", text, re.M)

    assert "HTTP mode" in text
    assert "SLACK_SIGNING_SECRET" in text
    assert "SLACK_APP_TOKEN" in text
    # One per command, one for events, one for interactivity.
    assert len(commented) == len(COMMANDS) + 2
    assert all(url.endswith(EVENTS_PATH) for url in commented)


def test_manifest_asks_for_exactly_the_scopes_the_adapter_uses(manifest):
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "adapters/slack").rglob("*.py")
    )
    methods = set(
        re.findall(r"client\.((?:chat|files|users|usergroups|views)_\w+)\(", source)
    )
    if "url_private" in source:
        methods.add("url_private")
    unknown = methods - set(SCOPE_OF)
    needed = {SCOPE_OF[m] for m in methods if SCOPE_OF.get(m)} | {"commands"}
    needed |= {EVENT_SCOPES[event] for event in BOT_EVENTS}

    assert unknown == set(), f"add the scope of {unknown} to SCOPE_OF"
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def test_readme_links_the_manifest_instead_of_carrying_a_copy():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert "deploy/slack-manifest.yml" in readme
    assert "slash_commands:" not in readme
