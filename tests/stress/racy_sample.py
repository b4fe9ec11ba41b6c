"""Deliberately racy code for the harness's own test (test_preempt.py): not part of ftproxy."""

from __future__ import annotations

import threading


class Counter:
    def __init__(self, locked: bool) -> None:
        self.value = 0
        self._lock = threading.Lock() if locked else None

    def add(self) -> None:
        if self._lock is None:
            self.value += 1  # load, add, store: a switch between load and store loses an update
            return
        with self._lock:
            self.value += 1

    def check_then_act(self, seen: set[int]) -> None:
        """A check and the act that depends on it, on separate lines."""
        if self._lock is None:
            self._claim(seen)
            return
        with self._lock:
            self._claim(seen)

    def _claim(self, seen: set[int]) -> None:
        current = self.value
        seen.add(current)
        self.value = current + 1
