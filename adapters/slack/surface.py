"""What the Slack app offers Slack, in one place: the adapter's side of the manifest.

``deploy/slack-manifest.yml`` declares these to Slack, the listeners register
exactly these, and ``tests/adapters/test_slack_manifest.py`` checks that the
manifest, this module and the listeners bolt ends up with all agree, so a command
added to one cannot be missing from the others.
"""

from __future__ import annotations

SORA_COMMAND = "/sora"
ADMIN_COMMAND = "/sora-admin"
# The message shortcut "Animate with Sora" (a message's ⋯ menu).
ANIMATE_SHORTCUT = "animate_with_sora"
MENTION_EVENT = "app_mention"

COMMANDS = (SORA_COMMAND, ADMIN_COMMAND)
MESSAGE_SHORTCUTS = (ANIMATE_SHORTCUT,)
BOT_EVENTS = (MENTION_EVENT,)
