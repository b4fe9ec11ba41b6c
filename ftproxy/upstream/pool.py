"""The client pool: per-subaccount upstream clients, created once, lazily, shared by all threads.

Creating a client opens a connection pool and a token manager; doing it twice for the same
subaccount would leak one of them. Double-checked locking under an RLock makes creation happen
exactly once per key while lookups of existing clients take no lock at all (a dict read; the
client is fully built before it is published). The lock is reentrant so that a factory may
itself consult the pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ClientPool(Generic[T]):
    def __init__(self, factory: Callable[[str], T], close: Callable[[T], None] | None = None) -> None:
        self._factory = factory
        self._close = close
        self._clients: dict[str, T] = {}
        self._lock = threading.RLock()

    def get(self, key: str) -> T:
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._factory(key)
                self._clients[key] = client
            return client

    def __len__(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        if self._close is not None:
            for client in clients:
                self._close(client)
