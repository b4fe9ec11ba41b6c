"""CircuitBreaker and Breakers under forced preemption: one probe in half-open state, no failure
lost, a success racing failures never leaves a half-counted state."""

from __future__ import annotations

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.settings import RetryPolicy
from ftproxy.upstream import breakers
from ftproxy.upstream.breakers import Breakers, CircuitBreaker

pytestmark = pytest.mark.stress

THREADS = 10


def test_half_open_breaker_admits_exactly_one_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=lambda: now[0])
    breaker.failure()
    now[0] = 1.0
    with preempting(breakers):
        admitted = run_together(lambda i: [breaker.allow() for _ in range(3)], THREADS)
    assert sum(a.count(True) for a in admitted) == 1  # type: ignore[attr-defined]


def test_every_failure_is_counted() -> None:
    per_thread = 15
    breaker = CircuitBreaker(threshold=THREADS * per_thread, cooldown_s=60.0)
    with preempting(breakers):
        run_together(lambda i: [breaker.failure() for _ in range(per_thread)], THREADS)
    assert breaker.state == "open"  # the threshold is reached only if no failure was lost


def test_breakers_by_url_count_each_deployment_separately() -> None:
    urls = ["https://a/d1", "https://a/d2"]
    per_thread = 10
    policy = RetryPolicy(breaker_failures=THREADS // 2 * per_thread, breaker_cooldown_s=60.0)
    by_url = Breakers(urls, policy)
    with preempting(breakers):
        run_together(lambda i: [by_url[urls[i % 2]].failure() for _ in range(per_thread)], THREADS)
    assert [by_url[u].state for u in urls] == ["open", "open"]


def test_half_open_trials_never_overlap_when_released_and_retaken() -> None:
    """Probes that end without a verdict (`release`, a token failure) hand the trial on: under
    forced switches at most one thread at a time holds it, and it is always handed on."""
    import threading

    breaker = CircuitBreaker(threshold=1, cooldown_s=0.0, clock=lambda: 1.0)
    breaker.failure()
    guard = threading.Lock()
    holding = [0]
    overlaps = [0]
    taken = [0]

    def worker(i: int) -> None:
        for _ in range(20):
            if breaker.allow():
                with guard:
                    holding[0] += 1
                    taken[0] += 1
                    overlaps[0] += holding[0] > 1
                assert breaker.state == "half-open"  # a call into breakers: a forced switch point
                with guard:
                    holding[0] -= 1
                breaker.release()

    with preempting(breakers):
        run_together(worker, THREADS)
    assert overlaps[0] == 0 and taken[0] > 0
    assert breaker.allow()  # the last holder released: not stuck in "probing"


def test_breakers_added_concurrently_are_all_kept() -> None:
    table = Breakers(["https://known"], RetryPolicy())
    known = table["https://known"]
    with preempting(breakers):
        run_together(lambda i: table.add([f"https://d{i}-{n}" for n in range(5)] + ["https://known"]), 8)
    assert all(table[f"https://d{i}-{n}"] is not None for i in range(8) for n in range(5))
    assert table["https://known"] is known  # a known URL keeps its breaker and its state
