"""Retry policy and circuit breaker: table-driven, with an injected clock and random source."""

from __future__ import annotations

import pytest

from ftproxy.settings import RetryPolicy
from ftproxy.upstream.breakers import CircuitBreaker, attempt_order, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), (" 0.5 ", 0.5), ("0", 0.0), ("-1", None), ("soon", None), ("", None), (None, None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", None)],
)  # fmt: skip
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize(("retry", "ceiling"), [(0, 0.25), (1, 0.5), (2, 1.0), (4, 4.0), (10, 4.0)])
def test_backoff_is_full_jitter_under_a_doubling_ceiling(retry: int, ceiling: float) -> None:
    policy = RetryPolicy()
    assert policy.backoff(retry, rand=lambda: 0.0) == 0.0
    assert policy.backoff(retry, rand=lambda: 1.0) == ceiling
    assert policy.backoff(retry, rand=lambda: 0.5) == ceiling / 2


@pytest.mark.parametrize(
    ("candidates", "attempts", "order"),
    [("a", 3, "aaa"), ("ab", 3, "aba"), ("abc", 2, "ab"), ("abc", 5, "abcab")],
)
def test_attempt_order_fails_over_first_then_retries(candidates: str, attempts: int, order: str) -> None:
    assert "".join(attempt_order(candidates, attempts)) == order


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=Clock())
    for _ in range(2):
        breaker.failure()
    breaker.success()  # resets the count
    for _ in range(2):
        breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()


def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=clock)
    breaker.failure()
    clock.now = 9.9
    assert not breaker.allow() and breaker.seconds_until_probe() == pytest.approx(0.1)
    clock.now = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its outcome
    breaker.failure()  # the probe failed: open again, a fresh cooldown
    assert breaker.state == "open" and breaker.seconds_until_probe() == 10.0
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_probe_that_never_reached_the_deployment_is_released_not_counted() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=clock)
    breaker.failure()
    clock.now = 10.0
    assert breaker.allow()  # the probe, but its OAuth token could not be had
    breaker.release()
    assert breaker.state == "half-open" and breaker.is_open  # no fresh cooldown, no close
    assert breaker.allow() and not breaker.allow()  # the next request is the probe, alone again
    breaker.success()
    assert breaker.state == "closed" and not breaker.is_open


def test_release_of_a_closed_breaker_counts_nothing() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=Clock())
    breaker.failure()
    for _ in range(5):
        assert breaker.allow()
        breaker.release()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"  # release kept the earlier failure's count
