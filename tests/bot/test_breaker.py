"""The circuit breaker's policy, on a clock the test moves."""

from __future__ import annotations

import logging

import pytest

from bot.providers.breaker import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("p1", threshold=3, cooldown=60, clock=clock)


def test_three_consecutive_failures_open_the_circuit(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record(False)
    assert breaker.allow()

    breaker.record(False)

    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count_of_failures(breaker: CircuitBreaker) -> None:
    breaker.record(False)
    breaker.record(False)
    breaker.record(True)
    breaker.record(False)
    breaker.record(False)

    assert breaker.state is CircuitState.CLOSED


def test_after_the_cooldown_exactly_one_trial_is_let_through(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.record(False)
    clock.now += 59
    assert not breaker.allow()

    clock.now += 1

    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # the trial is under way


def test_a_successful_trial_closes_the_circuit(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.record(False)
    clock.now += 60
    assert breaker.allow()

    breaker.record(True)

    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_a_failed_trial_opens_it_for_another_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.record(False)
    clock.now += 60
    assert breaker.allow()

    breaker.record(False)

    assert breaker.state is CircuitState.OPEN
    clock.now += 59
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_answers_arriving_while_open_decide_nothing(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.record(False)

    breaker.record(True)  # a status query sent before it opened

    assert breaker.state is CircuitState.OPEN


def test_each_change_of_state_is_logged_once(
    breaker: CircuitBreaker, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.providers.breaker")
    for _ in range(4):
        breaker.record(False)
    clock.now += 60
    breaker.allow()
    breaker.record(True)

    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3
    assert "p1: circuit open after 3 consecutive failure(s)" in said[0]
    assert "half-open" in said[1]
    assert "closed" in said[2]
