"""The bolt ``AsyncApp``: verification, redelivery filter, listeners, error log."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.dedupe import skip_redeliveries
from adapters.slack.deps import SlackDeps
from adapters.slack.listeners import register_listeners
from adapters.slack.respond import respond_on

log = logging.getLogger(__name__)


def build_app(
    client: AsyncWebClient, deps: SlackDeps, *, signing_secret: str | None
) -> AsyncApp:
    """An app whose listeners ack first and keep working after the response.

    ``process_before_response=False`` is what lets a listener ``ack()`` within
    Slack's 3 seconds and carry on; the signing secret is only needed over HTTP
    (Socket Mode connections are authenticated by the app token instead).
    """
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "",
        process_before_response=False,
        logger=logging.getLogger("adapters.slack.bolt"),
    )
    app.use(skip_redeliveries(deps.service))
    app.use(respond_on(deps.session))
    register_listeners(app, deps)

    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        # Listeners report their own failures; this catches what escapes bolt.
        log.error("Slack request failed (%s)", body.get("type"), exc_info=error)
        return BoltResponse(status=500, body="")

    app.error(on_error)
    return app
