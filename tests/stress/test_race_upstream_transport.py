"""The upstream transport's shared state under forced preemption: one connection pool per origin
however many threads meet a new deployment URL at once, and idle connections (a deque, no lock)
that are never handed to two threads at once and never lost."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from contention import run_together
from preempt import preempting, switch

from ftproxy.upstream import transport
from ftproxy.upstream.transport import Transport

pytestmark = pytest.mark.stress

THREADS = 10


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port whose kernel completes connections (the test never needs to answer)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield server


def test_one_pool_per_origin_for_a_crowd_of_new_urls(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    upstream = Transport(proxies={})
    urls = [f"http://127.0.0.1:{port}/v2/inference/deployments/d{i}/chat/completions" for i in range(THREADS)]
    with preempting(transport):
        targets = run_together(lambda i: upstream._target(urls[i]), THREADS)
    pools = {id(t.pool) for t in targets}  # type: ignore[attr-defined]
    assert len(pools) == 1 and len(upstream._pools) == 1
    assert next(iter(upstream._pools.values())) is targets[0].pool  # type: ignore[attr-defined]
    upstream.close()


def test_idle_connections_are_never_shared_and_never_lost(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    upstream = Transport(proxies={})
    pool = upstream._target(f"http://127.0.0.1:{port}/d").pool
    connections = [pool.connect() for _ in range(4)]  # real connections, idle in the pool
    for c in connections:
        pool.checkin(c)
    in_use: set[int] = set()
    count_lock = threading.Lock()

    def borrow(i: int) -> list[str]:
        problems = []
        for _ in range(12):
            connection = pool.checkout()
            if connection is None:
                continue  # all busy: the request would open a new connection
            with count_lock:
                if id(connection) in in_use:
                    problems.append("handed to two threads")
                in_use.add(id(connection))
            switch()  # the request runs on it meanwhile
            with count_lock:
                in_use.discard(id(connection))
            pool.checkin(connection)
        return problems

    with preempting(transport):
        problems = run_together(borrow, THREADS)
    assert [p for per_thread in problems for p in per_thread] == []  # type: ignore[attr-defined]
    assert sorted(map(id, pool._idle)) == sorted(map(id, connections))  # every one back, once
    upstream.close()
