"""Block Kit for a task's status message, its failure note and the Sora modal.

The words come from ``bot.rendering`` so Slack says what Discord and the terminal
say; this module only adds Slack's markup. Buttons carry the task id in their
``value``, so they keep working after a restart.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.parsing import CommandOptions
from bot.audit.entries import AuditEntry
from bot.audit.text import actor_label, audit_facts, audit_title
from bot.capabilities import Offer
from bot.models import Failure, Orientation, Task, TaskState
from bot.rendering import (
    PROVIDER_REMIX,
    failure_text,
    private_note,
    remix_label,
    settings_summary,
    state_label,
    status_line,
)

Block = dict[str, Any]

CANCEL_ACTION = "sora_cancel"
RETRY_ACTION = "sora_retry"
REMIX_ACTION = "sora_remix"
TAKEDOWN_ACTION = "sora_takedown"
GENERATE_VIEW = "sora_generate"
REMIX_VIEW = "sora_remix_view"
IMAGE_FILETYPES = ("jpg", "jpeg", "png", "webp")

_FINISHED = frozenset(
    {TaskState.DELIVERED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SUCCEEDED}
)


def escape(text: str) -> str:
    """Slack's escaping of text it parses: only these three are control characters.

    The one helper for every field Slack parses (message ``text``, blocks, file
    titles, ephemeral and ``response_url`` replies): unescaped, a member's
    ``<!channel>`` or ``<@U123>`` becomes a real mention and pings people. Bare
    ``@channel`` stays text because the bot never sets ``link_names``.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": kind, "text": text}


def _button(
    label: str, action_id: str, task_id: str, style: str | None = None
) -> Block:
    button: Block = {
        "type": "button",
        "text": _text(label, "plain_text"),
        "action_id": action_id,
        "value": task_id,
    }
    if style is not None:
        button["style"] = style
    return button


def status_text(task: Task) -> str:
    """The text sent with the blocks: notifications show only this, so it is
    escaped like the blocks (cut first, so no entity is cut in half)."""
    return f"{state_label(task)}: {escape(task.request.prompt[:150])}"


def status_blocks(task: Task) -> list[Block]:
    """Headline with progress bar, prompt, settings and requester, then buttons."""
    request = task.request
    by = f"requested by <@{request.requester.user_id}>"
    blocks: list[Block] = [
        {"type": "section", "text": _text(f"*{escape(status_line(task))}*")},
        {"type": "section", "text": _text(f">{escape(request.prompt)}")},
        {
            "type": "context",
            "elements": [_text(f"{escape(settings_summary(task))} · {by}")],
        },
    ]
    if (note := private_note(task)) is not None:
        blocks.append({"type": "context", "elements": [_text(note)]})
    if task.taken_down_at is not None:
        # Nothing is left to retry, remix or take down.
        return blocks
    if task.state in _FINISHED:
        buttons = [
            _button("Retry", RETRY_ACTION, task.id),
            _button(remix_label(task), REMIX_ACTION, task.id),
        ]
        if task.state is TaskState.DELIVERED and task.failure is None:
            # The uploaded file cannot carry buttons; its status message does.
            buttons.append(_button("Takedown", TAKEDOWN_ACTION, task.id, "danger"))
    else:
        buttons = [_button("Cancel", CANCEL_ACTION, task.id, "danger")]
    blocks.append({"type": "actions", "block_id": "task", "elements": buttons})
    return blocks


def permalink(channel: str, ts: str) -> str:
    """Slack's archive link to a message (``p`` and the ts without its dot)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def audit_blocks(entry: AuditEntry) -> tuple[str, list[Block]]:
    """One audit entry: headline, who and where, the facts, the result, Takedown."""
    title = escape(audit_title(entry))
    lines = [f"*{title}*"]
    if entry.user_id:
        lines.append(f"{actor_label(entry)}: <@{entry.user_id}>")
    if entry.channel_id:
        lines.append(f"Channel: <#{entry.channel_id}>")
    lines += [f"{label}: {escape(value)}" for label, value in audit_facts(entry)]
    if entry.result is not None and entry.result.status_message_id is not None:
        link = permalink(entry.result.channel_id, entry.result.status_message_id)
        lines.append(f"Result: <{link}|status message>")
    blocks: list[Block] = [{"type": "section", "text": _text("\n".join(lines))}]
    if entry.can_take_down and entry.task_id is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _button("Takedown", TAKEDOWN_ACTION, entry.task_id, "danger")
                ],
            }
        )
    return title, blocks


def failure_blocks(task: Task, failure: Failure) -> tuple[str, list[Block]]:
    """The thread reply that explains why there is no video, with a Retry button."""
    reason = failure_text(failure)
    text = f"<@{task.request.requester.user_id}> No video this time: {escape(reason)}"
    return text, [
        {"type": "section", "text": _text(text)},
        {"type": "actions", "elements": [_button("Retry", RETRY_ACTION, task.id)]},
    ]


def video_comment(task: Task) -> str:
    return f"<@{task.request.requester.user_id}> here is your video."


def _option(label: str, value: str) -> Block:
    return {"text": _text(label, "plain_text"), "value": value}


def _input(block_id: str, label: str, element: Block, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _text(label, "plain_text"),
        "optional": optional,
        "element": {**element, "action_id": "value"},
    }


def generation_modal(
    metadata: dict[str, Any],
    offer: Offer,
    default_model: str,
    *,
    prompt: str = "",
    image_name: str | None = None,
    options: CommandOptions | None = None,
) -> Block:
    """The ``/sora`` form: prompt, settings and an optional reference image,
    pre-set to ``options`` typed with ``/sora`` (length, orientation, HD,
    private; the model is ``default_model``).

    Only what the configured providers ``offer``: no HD box, private box or
    style menu where none of them has it.
    """
    model_options = [_option(m, m) for m in offer.model_names]
    second_options = [_option(f"{s} seconds", str(s)) for s in offer.seconds]
    default = next((o for o in model_options if o["value"] == default_model), None)
    shortest = str(offer.default_seconds(default_model))
    orientations = [_option(o.value.capitalize(), o.value) for o in Orientation]
    extras = [_option("HD", "hd")] if offer.hd else []
    if offer.private:
        extras.append(_option("Private", "private"))
    seconds_default = next(o for o in second_options if o["value"] == shortest)
    orientation_default = orientations[0]
    chosen: set[str] = set()
    if options is not None:
        seconds_default = next(
            (o for o in second_options if o["value"] == str(options.seconds)),
            seconds_default,
        )
        orientation_default = next(
            o for o in orientations if o["value"] == options.orientation.value
        )
        chosen = {
            name
            for name, on in (("hd", options.hd), ("private", options.private))
            if on
        }
    extras_input: Block = {"type": "checkboxes", "options": extras}
    if picked := [o for o in extras if o["value"] in chosen]:
        extras_input["initial_options"] = picked
    prompt_input: Block = {
        "type": "plain_text_input",
        "multiline": True,
        "max_length": 1000,
        "placeholder": _text("A corgi surfing at sunset", "plain_text"),
    }
    if prompt:
        prompt_input["initial_value"] = prompt[:1000]
    model_select: Block = {"type": "static_select", "options": model_options}
    if default is not None:
        model_select["initial_option"] = default
    blocks: list[Block] = [
        _input("prompt", "Prompt", prompt_input),
        _input("model", "Model", model_select),
        _input(
            "seconds",
            "Length",
            {
                "type": "static_select",
                "options": second_options,
                "initial_option": seconds_default,
            },
        ),
        _input(
            "orientation",
            "Orientation",
            {
                "type": "radio_buttons",
                "options": orientations,
                "initial_option": orientation_default,
            },
        ),
    ]
    if offer.styles:
        styles = [_option(s.capitalize(), s) for s in offer.styles]
        blocks.append(
            _input("style", "Style", {"type": "static_select", "options": styles}, True)
        )
    if extras:
        blocks.append(_input("extras", "Options", extras_input, True))
    if image_name is not None:
        note = (
            f"Reference image: *{escape(image_name)}* (from the message). "
            "Attach another one below to use it instead."
        )
        blocks.append({"type": "context", "elements": [_text(note)]})
    blocks.append(
        _input(
            "image",
            "Reference image (JPEG, PNG or WebP, up to 10 MB)",
            {"type": "file_input", "filetypes": list(IMAGE_FILETYPES), "max_files": 1},
            optional=True,
        )
    )
    return {
        "type": "modal",
        "callback_id": GENERATE_VIEW,
        "title": _text("Sora video", "plain_text"),
        "submit": _text("Generate", "plain_text"),
        "close": _text("Cancel", "plain_text"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def remix_modal(metadata: dict[str, Any], task: Task) -> Block:
    """Only the prompt changes: the provider's remix of the video, or a new video
    with the original's settings and image; titled as what it does."""
    prompt_input: Block = {
        "type": "plain_text_input",
        "multiline": True,
        "max_length": 1000,
        "initial_value": task.request.prompt[:1000],
    }
    label = remix_label(task)
    # Modal titles hold 24 characters.
    title = "Remix" if label == PROVIDER_REMIX else "Same settings"
    return {
        "type": "modal",
        "callback_id": REMIX_VIEW,
        "title": _text(title, "plain_text"),
        "submit": _text(
            "Remix" if label == PROVIDER_REMIX else "Generate", "plain_text"
        ),
        "close": _text("Cancel", "plain_text"),
        "private_metadata": json.dumps(metadata),
        "blocks": [_input("prompt", "New prompt", prompt_input)],
    }
