"""Limits that protect the gateway and the SAP AI Core quota from any one client.

- request body size (413; AI Core itself accepts about 32 MiB of images and documents);
- concurrent requests per worker (503 with `Retry-After`; streams also have their own limit in
  `streaming.py`);
- requests per minute per client key, a token bucket (429 with `Retry-After`, in the client's
  error shape), configured for all keys or per key;
- output tokens per model: a request asking for more is capped, one asking for nothing gets
  the cap, whatever API the client speaks.

Shared state: each token bucket and the concurrency semaphore own a lock; the table of buckets
is built once at start-up (one per configured key) and only read afterwards.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ftproxy.convert import ClientApi
from ftproxy.errors import ApiError

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

# The field that bounds the answer's length, per client API (the first one present wins).
_OUTPUT_FIELDS: dict[ClientApi, tuple[str, ...]] = {
    ClientApi.OPENAI_CHAT: ("max_completion_tokens", "max_tokens"),
    ClientApi.ANTHROPIC_MESSAGES: ("max_tokens",),
    ClientApi.OPENAI_RESPONSES: ("max_output_tokens",),
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests_per_minute: float
    burst: int  # requests allowed at once after a quiet period


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrent_requests: int | None = None  # per worker; None: bounded by the threads only
    rate: RateLimit | None = None  # default for every client key
    max_output_tokens: Mapping[str, int] = field(default_factory=dict)  # model → cap


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


def cap_output_tokens(client: ClientApi, body: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """The body with its output-token field at most `cap` (set to `cap` when absent)."""
    if cap is None:
        return body
    names = _OUTPUT_FIELDS[client]
    present = next((n for n in names if body.get(n) is not None), None)
    if present is None:
        return {**body, names[-1]: cap}
    value = body[present]
    if isinstance(value, int) and not isinstance(value, bool) and value > cap:
        return {**body, present: cap}
    return body  # within the cap, or of a wrong type that the converters reject with a 400
