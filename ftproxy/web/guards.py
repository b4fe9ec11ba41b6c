"""Guards in front of the handlers: they protect the gateway and the SAP AI Core quota from any
one client.

- concurrent requests per worker (503 with `Retry-After`; streams also have their own limit in
  `streaming.py`);
- requests per minute per client key, a token bucket (429 with `Retry-After`, in the client's
  error shape), configured for all keys or per key.

The other limits sit where their data is: the body size in `wsgi.Request.body`, the output-token
caps per model in `convert/limits.py`.

Shared state: each token bucket and the concurrency semaphore own a lock; the table of buckets
is built once at start-up (one per configured key) and only read afterwards.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from ftproxy.errors import ApiError
from ftproxy.settings import RateLimit


class TokenBucket:
    __slots__ = ("_burst", "_clock", "_lock", "_rate", "_stamp", "_tokens")

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limit.requests_per_minute / 60.0  # tokens per second
        self._burst = float(limit.burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self._burst
        self._stamp = clock()

    def take(self) -> float:
        """0.0 when a request may go now (and it is counted), else the seconds until one may."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate


class RateLimiter:
    """One bucket per client (by the name `ClientAuth` returns), all made at start-up."""

    def __init__(
        self, limits: Mapping[str, RateLimit | None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets = {
            name: TokenBucket(limit, clock) for name, limit in limits.items() if limit is not None
        }

    def check(self, client: str) -> None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return
        wait = bucket.take()
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit of this API key reached; retry in {math.ceil(wait)} s",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(math.ceil(wait))},
            )


class ConcurrencyLimit:
    """At most `limit` requests of this worker at once; the next one gets a 503 at once."""

    def __init__(self, limit: int | None) -> None:
        self._semaphore = threading.BoundedSemaphore(limit) if limit else None
        self._limit = limit

    def acquire(self) -> Callable[[], None] | None:
        """The release function of the slot taken, or None when there is no limit."""
        if self._semaphore is None:
            return None
        if not self._semaphore.acquire(blocking=False):
            raise ApiError(
                503,
                f"ftproxy is serving its maximum of {self._limit} concurrent requests; retry shortly",
                code="too_many_requests",
                headers={"Retry-After": "1"},
            )
        return self._semaphore.release
