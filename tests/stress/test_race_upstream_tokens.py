"""TokenManager under forced preemption: one fetch for a crowd, one refresh ahead of expiry, one
re-fetch per rejected token, and a 401 for the old token never throws away a newer one."""

from __future__ import annotations

import threading

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.upstream import tokens
from ftproxy.upstream.tokens import TokenManager

pytestmark = pytest.mark.stress

THREADS = 12


class Endpoint:
    """The token endpoint: hands out token-1, token-2, … and counts (its own lock: a fetch that
    raced would still be counted right, so the count shows how many fetches really ran)."""

    def __init__(self, lifetime: float = 43199) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        self._lock = threading.Lock()

    def fetch(self) -> tuple[str, float]:
        with self._lock:
            self.issued.append(f"token-{len(self.issued) + 1}")
            return self.issued[-1], self.lifetime


def test_a_crowd_without_a_token_fetches_once() -> None:
    endpoint = Endpoint()
    manager = TokenManager("sub", endpoint.fetch)
    with preempting(tokens):
        got = run_together(lambda i: manager.get(), THREADS)
    assert endpoint.issued == ["token-1"] and set(got) == {"token-1"}
    assert manager.fetch_count == 1


def test_refresh_ahead_happens_once_and_readers_keep_the_valid_token() -> None:
    now = [0.0]
    endpoint = Endpoint(lifetime=1000)  # refresh from 900 s, expired from 950 s
    manager = TokenManager("sub", endpoint.fetch, clock=lambda: now[0])
    assert manager.get() == "token-1"
    now[0] = 920.0
    with preempting(tokens):
        got = run_together(lambda i: manager.get(), THREADS)
    assert endpoint.issued == ["token-1", "token-2"]
    assert set(got) <= {"token-1", "token-2"}
    assert manager.get() == "token-2" and manager.fetch_count == 2


def test_every_thread_seeing_the_same_401_refetches_once() -> None:
    endpoint = Endpoint()
    manager = TokenManager("sub", endpoint.fetch)
    first = manager.get()

    def rejected_then_get(i: int) -> str:
        manager.invalidate(first)  # every thread got a 401 for the same token
        return manager.get()

    with preempting(tokens):
        got = run_together(rejected_then_get, THREADS)
    assert endpoint.issued == ["token-1", "token-2"] and set(got) == {"token-2"}


def test_a_401_racing_a_refresh_never_loses_the_new_token() -> None:
    """Half the threads refresh ahead of expiry, half were just told 401 for the old token: the
    refresh's new token must survive the invalidation of the old one, so exactly one new token
    is fetched and every later call gets it."""
    now = [0.0]
    endpoint = Endpoint(lifetime=1000)
    manager = TokenManager("sub", endpoint.fetch, clock=lambda: now[0])
    old = manager.get()
    now[0] = 920.0  # inside the refresh window, still valid

    def work(i: int) -> str:
        if i % 2:
            manager.invalidate(old)
        return manager.get()

    with preempting(tokens):
        got = run_together(work, THREADS)
    assert endpoint.issued == ["token-1", "token-2"]
    assert set(got) <= {"token-1", "token-2"}
    assert manager.get() == "token-2" and endpoint.issued == ["token-1", "token-2"]
