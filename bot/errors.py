"""The exception tree. Every error the core raises on purpose is a ``BotError``.

    BotError
    ├── UserInputError           the member asked for something we will not send;
    │                            ``str(e)`` tells them what to fix
    ├── ConfigError              the operator's configuration is incomplete or wrong
    ├── TaskNotFound             no task with that id (buttons on old messages)
    ├── PermissionDenied         the user may not do this (cancel, settings)
    └── ProviderError            talking to the video API went wrong
        ├── ProviderAuthError        401/403: the operator's key; never retried
        ├── ProviderQuotaError       402 or quota exhausted; never retried
        ├── ProviderRejected         400/422: the provider refused the request
        │   └── ProviderModerated    ... under its content policy, at one stage
        ├── ProviderTaskUnknown      404 or "task_not_exist" for a task id
        ├── ProviderRateLimited      429; carries ``retry_after`` seconds
        ├── ProviderUnavailable      5xx, timeouts, connection errors; retried
        │   ├── ProviderUnreachable      never reached it (refused, DNS, TLS)
        │   └── ProviderNoAnswer         sent, but no answer (timeout, dropped)
        ├── ProviderProtocolError    an answer we could not make sense of
        ├── ProviderURLRefused       a result link the bot will not fetch from
        ├── ProviderVideoTooLarge    a result bigger than MAX_VIDEO_MB
        └── CreateOutcomeUnknown     a create may have been taken: never re-sent

``user_message`` is always safe to show in a channel: it never contains a key, a URL
with credentials, or raw provider JSON.
"""

from __future__ import annotations

from bot.models import FailureKind
from bot.wording import Advice


class BotError(Exception):
    """Base of every deliberate error; ``user_message`` is safe to show.

    ``has_mentions``: the message holds platform mentions (``<#C1>``, ``<@&R1>``)
    built from stored ids and no free text, so adapters send it unescaped.
    """

    has_mentions: bool = False

    @property
    def user_message(self) -> str:
        return str(self)


class UserInputError(BotError):
    """The request is not acceptable as typed; the message says what to change."""


class ConfigError(BotError):
    """The operator's configuration is missing or inconsistent."""


class TaskNotFound(BotError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"I can't find video task {task_id}; it may be too old.")
        self.task_id = task_id


class StaleTask(BotError):
    """A conditional save found the task moved on elsewhere: its lease went to
    another replica, or its state is no longer the one the writer read (a cancel).
    The writer must re-read the task, not overwrite it."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Video task {task_id} was changed elsewhere.")
        self.task_id = task_id


class StoreUnavailable(BotError):
    """The database does not answer, or its file is gone or replaced."""


class PermissionDenied(BotError):
    """The user is not allowed to do this; the message says who is."""


class ProviderError(BotError):
    """The video API could not do what we asked.

    ``retryable`` says whether asking again later may work; ``field`` names the
    request field a 400/422 complained about when the provider said so;
    ``reason`` is the provider's own words, already made safe to show.
    """

    retryable: bool = False
    # The request provably never reached the provider (see ``ProviderUnreachable``).
    not_sent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        field: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.field = field
        self.reason = reason

    @property
    def user_message(self) -> str:
        return "The video service could not take this request right now."


class ProviderAuthError(ProviderError):
    @property
    def user_message(self) -> str:
        return f"The bot's video service key was refused. {Advice.OPERATOR_TOLD}"


class ProviderQuotaError(ProviderError):
    @property
    def user_message(self) -> str:
        return f"The bot's video service is out of credit. {Advice.TELL_OPERATOR}"


class ProviderRejected(ProviderError):
    @property
    def user_message(self) -> str:
        # The provider's words travel in ``reason``, quoted where they are shown.
        where = f" (field `{self.field}`)" if self.field else ""
        return f"The video service refused the request{where}."


class ProviderModerated(ProviderRejected):
    """A refusal under the content policy; ``stage`` says which check refused."""

    def __init__(
        self,
        message: str,
        *,
        stage: FailureKind,
        status_code: int | None = None,
        code: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, reason=reason)
        self.stage = stage


class ProviderTaskUnknown(ProviderError):
    @property
    def user_message(self) -> str:
        return "The video service no longer knows this task."


class ProviderRateLimited(ProviderError):
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=429, code=code)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderUnreachable(ProviderUnavailable):
    """The request never reached the provider: connection refused, DNS or TLS.

    For a create this proves nothing was taken, so another provider may get it.
    """

    not_sent = True


class ProviderNoAnswer(ProviderUnavailable):
    """The request was sent but no answer came (a timeout, a dropped connection).

    For a create the provider may have taken (and billed) it. ``timed_out``
    tells a timeout from a connection dropped before the answer.
    """

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ProviderProtocolError(ProviderError):
    """The answer was not what the dialect promises (missing field, not JSON)."""

    @property
    def user_message(self) -> str:
        return "The video service sent an answer the bot could not understand."


class ProviderURLRefused(ProviderError):
    """The provider's link to the video is not one the bot fetches from.

    The link is provider-supplied, so following it blindly would let a relay (or
    whoever controls its CDN's DNS) make the bot read its own network: loopback,
    private ranges, cloud metadata. Asking again would get the same link, so this
    is never retried. ``str(e)`` says why, for the operator's log.
    """

    @property
    def user_message(self) -> str:
        return (
            "The video service's link to the finished video points somewhere the "
            "bot does not download from, so it was not fetched. An operator has "
            "been told."
        )


class ProviderVideoTooLarge(ProviderError):
    """The video is bigger than ``MAX_VIDEO_MB``: the download was stopped there.

    A relay streaming without end must not fill the disk; the same link would
    be as big next time, so this is never retried.
    """

    def __init__(self, limit_mb: int) -> None:
        super().__init__(
            f"The video download passed MAX_VIDEO_MB ({limit_mb} MB) and was stopped."
        )
        self.limit_mb = limit_mb

    @property
    def user_message(self) -> str:
        return (
            f"The finished video is larger than the {self.limit_mb} MB this bot "
            "downloads, so it was not fetched."
        )


def not_resent_message(why: str = "did not answer in time") -> str:
    """What the member reads when a create's outcome is unknown: ``why`` is what
    the video service did ("did not answer in time")."""
    return (
        f"The video service {why}, so the bot did not send the request again "
        "(you would have paid twice). Press Retry to try once more."
    )


class CreateOutcomeUnknown(ProviderError):
    """A create was sent and may have been taken, but no usable answer came back.

    It is never sent again, to that provider or another: nobody pays twice. The
    member is told so (``why`` says what happened) and may press Retry.
    """

    def __init__(
        self, message: str, *, provider: str, why: str = "did not answer in time"
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.why = why

    @property
    def user_message(self) -> str:
        return not_resent_message(self.why)
