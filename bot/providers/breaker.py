"""A circuit breaker per provider: a relay that keeps failing is skipped for a while.

Closed: requests flow and consecutive failures are counted. After ``threshold`` of
them in a row it opens: new creates skip the provider for ``cooldown`` seconds (a
dead relay would otherwise cost every request a failed attempt first). Then it is
half-open: exactly one trial request is let through and its outcome decides,
closed again on success, open for another cool-down on failure. State changes
are logged, so an operator sees a relay go and come back.

Pure policy: no I/O, an injectable clock, unit-tested on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 3
DEFAULT_COOLDOWN = 60.0


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Decides whether a provider may be sent a new request now.

    Args:
        name: the provider's configured name, for the log.
        threshold: consecutive failures that open the circuit.
        cooldown: seconds an open circuit skips the provider before a trial.
        clock: monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        name: str,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False  # half-open: the one trial is under way

    @property
    def state(self) -> CircuitState:
        """The state as of now: an open circuit past its cool-down is half-open."""
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self._cooldown
        ):
            self._move(CircuitState.HALF_OPEN)
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    def allow(self) -> bool:
        """Whether to send a new request now; a half-open circuit lets one through.

        Call it only just before sending: in half-open it reserves the trial.
        """
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def record(self, ok: bool) -> None:
        """The outcome of a request: ``ok`` when the provider answered properly."""
        state = self.state
        if state is CircuitState.OPEN:
            return  # answers to requests sent before it opened decide nothing
        if ok:
            self._failures = 0
            self._trial_out = False
            if state is CircuitState.HALF_OPEN:
                self._move(CircuitState.CLOSED)
            return
        self._failures += 1
        if state is CircuitState.HALF_OPEN or self._failures >= self._threshold:
            self._trial_out = False
            self._opened_at = self._clock()
            self._move(CircuitState.OPEN)

    def _move(self, state: CircuitState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is CircuitState.OPEN:
            log.warning(
                "provider %s: circuit open after %d consecutive failure(s); "
                "skipping it for %.0f s",
                self.name,
                self._failures,
                self._cooldown,
            )
        elif state is CircuitState.HALF_OPEN:
            log.info(
                "provider %s: circuit half-open; the next request decides", self.name
            )
        else:
            log.info("provider %s: circuit closed; it answers again", self.name)
