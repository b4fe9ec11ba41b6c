"""Rate limits and the concurrency limit under forced preemption: never more than the burst,
never more than the limit at once, every slot comes back."""

from __future__ import annotations

import threading

import pytest
from contention import run_together
from preempt import preempting, switch

from ftproxy.errors import ApiError
from ftproxy.settings import RateLimit
from ftproxy.web import guards
from ftproxy.web.guards import ConcurrencyLimit, RateLimiter, TokenBucket

pytestmark = pytest.mark.stress

THREADS = 10


def test_token_bucket_admits_exactly_its_burst() -> None:
    bucket = TokenBucket(RateLimit(requests_per_minute=1e-6, burst=25), clock=lambda: 0.0)
    with preempting(guards):
        admitted = run_together(lambda i: sum(bucket.take() == 0.0 for _ in range(5)), THREADS)
    assert sum(admitted) == 25  # type: ignore[arg-type]  # 50 tries, exactly the burst gets through


def test_rate_limiter_answers_429_to_everything_beyond_the_burst() -> None:
    limiter = RateLimiter({"team": RateLimit(requests_per_minute=1e-6, burst=20)}, clock=lambda: 0.0)

    def tries(i: int) -> tuple[int, int]:
        ok = refused = 0
        for _ in range(4):
            try:
                limiter.check("team")
                ok += 1
            except ApiError as exc:
                assert exc.status == 429
                refused += 1
        return ok, refused

    with preempting(guards):
        results = run_together(tries, THREADS)
    assert sum(r[0] for r in results) == 20 and sum(r[1] for r in results) == THREADS * 4 - 20  # type: ignore[index]


def test_concurrency_limit_is_never_exceeded_and_every_slot_returns() -> None:
    limit = 3
    gate = ConcurrencyLimit(limit)
    inside = [0]
    most = [0]
    count_lock = threading.Lock()

    def request(i: int) -> int:
        served = 0
        for _ in range(5):
            try:
                release = gate.acquire()
            except ApiError as exc:
                assert exc.status == 503
                continue
            assert release is not None
            with count_lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            switch()  # the request's work: other threads run meanwhile
            switch()
            with count_lock:
                inside[0] -= 1
            release()
            served += 1
        return served

    with preempting(guards):
        served = run_together(request, THREADS)
    assert most[0] <= limit and sum(served) > 0  # type: ignore[arg-type]
    releases = [gate.acquire() for _ in range(limit)]  # every slot came back ...
    with pytest.raises(ApiError):
        gate.acquire()  # ... and there are still only `limit` of them
    for release in releases:
        release()  # type: ignore[misc]
