"""Bolt listeners, one module per kind of Slack request (the bolt starter layout)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from adapters.slack.deps import SlackDeps
from adapters.slack.listeners import actions, commands, events, shortcuts, views


def register_listeners(app: AsyncApp, deps: SlackDeps) -> None:
    for module in (commands, shortcuts, views, actions, events):
        module.register(app, deps)
