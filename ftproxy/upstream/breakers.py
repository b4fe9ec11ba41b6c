"""Retries, failover and per-deployment circuit breakers, for the moment before the first byte.

Once a byte of the answer has reached the client nothing can be retried (a stream that breaks
ends with an error event instead, see `proxy._relay`). Before that, an upstream failure is
retried on the model's next deployment (another URL, or another subaccount serving the same
model) at once, and on the same deployment after a backoff with full jitter or the upstream's
`Retry-After`, all bounded by `max_attempts` and `max_total_s`. When nothing succeeds the
client gets the last upstream error unchanged (status, message, `Retry-After`).

A deployment whose calls keep failing (connection errors, timeouts, 5xx: not 429, which says
"slow down", not "broken") is skipped for `cooldown_s` by its circuit breaker; then one probe
request is let through (half-open) and its outcome closes or re-opens the breaker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ftproxy.settings import RetryPolicy

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (delta form); the HTTP-date form is not used by SAP AI Core."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class CircuitBreaker:
    """closed → (N consecutive failures) → open → (cooldown) → half-open: one probe → closed/open."""

    __slots__ = ("_clock", "_cooldown_s", "_failures", "_lock", "_opened_at", "_probing", "_threshold")

    def __init__(
        self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self._cooldown_s else "open"

    def allow(self) -> bool:
        """May a request go to this deployment now? In half-open state only one probe may."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self._clock() - self._opened_at < self._cooldown_s:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()  # (re-)open; a failed probe restarts the cooldown
            self._probing = False

    def release(self) -> None:
        """The allowed call never reached the deployment (no OAuth token): it says nothing about
        the deployment's health, so count nothing, but let the next request be the probe."""
        with self._lock:
            self._probing = False

    def seconds_until_probe(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._cooldown_s - (self._clock() - self._opened_at))

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None


class Breakers:
    """One breaker per deployment URL, all created up front: lookups are plain dict reads."""

    def __init__(
        self, urls: Sequence[str], policy: RetryPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._by_url = {url: self._new() for url in urls}
        self._adding = threading.Lock()

    def _new(self) -> CircuitBreaker:
        return CircuitBreaker(self._policy.breaker_failures, self._policy.breaker_cooldown_s, self._clock)

    def add(self, urls: Sequence[str]) -> None:
        """Breakers for newly discovered URLs: a new dict published whole (copy on write), so
        lookups stay lock-free; known URLs keep their breaker and its state."""
        with self._adding:
            fresh = {url: self._new() for url in urls if url not in self._by_url}
            if fresh:
                self._by_url = {**self._by_url, **fresh}

    def __getitem__(self, url: str) -> CircuitBreaker:
        return self._by_url[url]

    def open_urls(self) -> list[str]:
        """Deployments whose breaker is open or half-open now (for /ready's degraded info)."""
        return [url for url, breaker in self._by_url.items() if breaker.is_open]


def attempt_order(candidates: Sequence[T], attempts: int) -> list[T]:
    """The deployments to try, in order: each once (failover), then round again (retries)."""
    return [candidates[i % len(candidates)] for i in range(attempts)]
