"""Many threads, a switch interval of a microsecond, invariants checked afterwards.

On a GIL build the tiny switch interval forces the interleavings a free-threaded build produces
naturally; the invariants are the same on both.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from contention import THREADS, run_together

from ftproxy.balancer import RoundRobin
from ftproxy.pool import ClientPool
from ftproxy.tokens import TokenManager

pytestmark = pytest.mark.stress


def slow_work() -> None:
    # widens the window between check and act without sleeping
    sum(i * i for i in range(2000))


def test_pool_creates_each_client_exactly_once() -> None:
    created = Counter()
    lock = threading.Lock()

    def factory(key: str) -> object:
        slow_work()
        with lock:
            created[key] += 1
        return object()

    pool: ClientPool[object] = ClientPool(factory)
    keys = ["sub-a", "sub-b", "sub-c", "sub-d"]
    results = run_together(lambda i: (keys[i % 4], pool.get(keys[i % 4])))
    assert created == Counter({k: 1 for k in keys})
    by_key: dict[str, set[int]] = {}
    for key, client in results:  # type: ignore[misc]
        by_key.setdefault(key, set()).add(id(client))
    assert all(len(ids) == 1 for ids in by_key.values())


def test_round_robin_distributes_exactly_evenly() -> None:
    items = ["d1", "d2", "d3", "d4", "d5"]
    rr = RoundRobin(items)
    per_thread = 500
    picks = run_together(lambda i: Counter(rr.next() for _ in range(per_thread)))
    total = sum(picks, Counter())  # type: ignore[arg-type]
    assert sum(total.values()) == THREADS * per_thread
    assert set(total.values()) == {THREADS * per_thread // len(items)}


def test_token_manager_fetches_once_for_a_crowd() -> None:
    fetches = Counter()

    def fetch() -> tuple[str, float]:
        slow_work()
        fetches["n"] += 1  # only ever called under the manager's lock
        return f"token-{fetches['n']}", 43199

    manager = TokenManager("sub", fetch)
    tokens = run_together(lambda i: manager.get())
    assert fetches["n"] == 1 and set(tokens) == {"token-1"}


def test_token_refresh_ahead_is_single_and_never_blocks_readers() -> None:
    now = [0.0]
    fetched: list[str] = []

    def fetch() -> tuple[str, float]:
        slow_work()
        fetched.append(f"token-{len(fetched) + 1}")
        return fetched[-1], 1000

    manager = TokenManager("sub", fetch, clock=lambda: now[0])
    assert manager.get() == "token-1"
    now[0] = 950.0  # inside the refresh window, token still valid
    tokens = run_together(lambda i: manager.get())
    assert fetched == ["token-1", "token-2"]
    assert set(tokens) <= {"token-1", "token-2"} and "token-2" in tokens
    assert manager.get() == "token-2"


def test_invalidate_under_contention_refetches_once_per_rejection() -> None:
    fetched: list[str] = []

    def fetch() -> tuple[str, float]:
        fetched.append(f"token-{len(fetched) + 1}")
        return fetched[-1], 43199

    manager = TokenManager("sub", fetch)
    first = manager.get()

    def reject_then_get(i: int) -> str:
        manager.invalidate(first)  # every thread saw the same 401
        return manager.get()

    tokens = run_together(reject_then_get)
    assert fetched == ["token-1", "token-2"] and set(tokens) == {"token-2"}


def test_half_open_breaker_admits_exactly_one_probe_among_many_threads() -> None:
    from ftproxy.resilience import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=lambda: now[0])
    breaker.failure()
    now[0] = 1.0
    admitted = run_together(lambda i: breaker.allow())
    assert admitted.count(True) == 1


def test_breaker_counts_every_failure_under_contention() -> None:
    from ftproxy.resilience import CircuitBreaker

    breaker = CircuitBreaker(threshold=THREADS * 100, cooldown_s=60.0)

    def fail(i: int) -> None:
        for _ in range(100):
            breaker.failure()

    run_together(fail)
    assert breaker.state == "open"  # threshold reached exactly when every failure was counted


def test_token_bucket_never_admits_more_than_its_burst_under_contention() -> None:
    from ftproxy.limits import RateLimit, TokenBucket

    bucket = TokenBucket(RateLimit(requests_per_minute=1e-6, burst=100), clock=lambda: 0.0)
    admitted = run_together(lambda i: sum(bucket.take() == 0.0 for _ in range(10)))
    assert sum(admitted) == 100  # THREADS x 10 tries, exactly the burst gets through


def test_thread_workers_share_one_gateway_built_once(tmp_path, monkeypatch) -> None:
    """Granian's thread workers (free-threaded build) call the factory at once: one gateway."""
    from ftproxy import app
    from ftproxy.demo import write_demo_config

    config = write_demo_config(tmp_path, "http://127.0.0.1:9", host="127.0.0.1", port=3001)
    monkeypatch.setenv(app.CONFIG_ENV, str(config))
    monkeypatch.setattr(app, "_process_gateway", None)
    built: list[object] = []
    real_create = app.create_app
    monkeypatch.setattr(app, "create_app", lambda c: built.append(c) or real_create(c))
    gateways = run_together(lambda i: app.from_environment())
    assert len(built) == 1 and len({id(g) for g in gateways}) == 1
