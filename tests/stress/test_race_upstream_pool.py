"""ClientPool under forced preemption: each client is created exactly once, none is leaked by a
close() that races a get()."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.upstream import pool
from ftproxy.upstream.pool import ClientPool

pytestmark = pytest.mark.stress

THREADS = 12
KEYS = ["sub-a", "sub-b", "sub-c"]


def test_each_client_is_created_exactly_once() -> None:
    created: Counter[str] = Counter()
    count_lock = threading.Lock()

    def factory(key: str) -> object:
        with count_lock:
            created[key] += 1
        return object()

    clients: ClientPool[object] = ClientPool(factory)
    with preempting(pool):
        results = run_together(lambda i: (KEYS[i % 3], clients.get(KEYS[i % 3])), THREADS)
    assert created == Counter(dict.fromkeys(KEYS, 1))
    assert all(len({id(c) for k, c in results if k == key}) == 1 for key in KEYS)  # type: ignore[misc]


def test_close_racing_gets_closes_every_client_once() -> None:
    created: list[object] = []
    closed: Counter[int] = Counter()
    count_lock = threading.Lock()

    def factory(key: str) -> object:
        client = object()
        with count_lock:
            created.append(client)
        return client

    def close(client: object) -> None:
        with count_lock:
            closed[id(client)] += 1

    clients: ClientPool[object] = ClientPool(factory, close)

    def work(i: int) -> None:
        for n in range(6):
            if i == 0:
                clients.close()
            else:
                clients.get(f"sub-{i}-{n % 3}")

    with preempting(pool):
        run_together(work, THREADS)
    clients.close()
    assert len(clients) == 0
    assert sorted(closed.values()) == [1] * len(created)  # none leaked, none closed twice
    assert set(closed) == {id(c) for c in created}
