"""Round-robin choice among the deployments that serve a model.

The reference proxies kept their counters in a function attribute without a lock, which loses
updates under threads; here the cursor moves under a lock held for a few instructions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class RoundRobin(Generic[T]):
    def __init__(self, items: Sequence[T]) -> None:
        if not items:
            raise ValueError("RoundRobin needs at least one item")
        self._items = tuple(items)
        self._cursor = 0
        self._lock = threading.Lock()

    @property
    def items(self) -> tuple[T, ...]:
        return self._items

    def next(self) -> T:
        if len(self._items) == 1:
            return self._items[0]
        with self._lock:
            index = self._cursor
            self._cursor = (index + 1) % len(self._items)
        return self._items[index]

    def rotation(self) -> tuple[T, ...]:
        """Every item once, starting with the next in turn: the order to try for failover."""
        if len(self._items) == 1:
            return self._items
        with self._lock:
            index = self._cursor
            self._cursor = (index + 1) % len(self._items)
        return self._items[index:] + self._items[:index]
