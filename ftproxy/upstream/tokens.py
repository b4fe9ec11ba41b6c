"""OAuth client-credentials tokens for one subaccount.

Readers of a valid token never take a lock: the current token is an immutable tuple published
by a single attribute assignment. Only fetching takes the lock, so at most one fetch per
subaccount is in flight. Shortly before expiry one caller refreshes in the background of its
own request while every other caller keeps using the still-valid token; only when no valid
token exists do callers wait for the fetch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from ftproxy.observe import metrics

# Refresh when this much of the lifetime is left (5 minutes of SAP's 12 hours, or a tenth of
# shorter lifetimes) and treat the token as expired a little early to absorb clock skew.
_REFRESH_AHEAD_S = 300.0
_EXPIRY_SKEW_S = 30.0


class TokenError(RuntimeError):
    """The token endpoint failed; the message is safe to show (no secrets)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Token(NamedTuple):
    value: str
    refresh_at: float
    expires_at: float


FetchResult = tuple[str, float]  # (access token, lifetime in seconds)


class TokenManager:
    def __init__(
        self,
        name: str,
        fetch: Callable[[], FetchResult],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()  # held only while fetching
        self._fetches = 0

    @property
    def fetch_count(self) -> int:
        return self._fetches

    def get(self) -> str:
        token = self._token
        now = self._clock()
        if token is not None and now < token.expires_at:
            if now >= token.refresh_at and self._lock.acquire(blocking=False):
                # Refresh ahead; a failure keeps the still-valid token in service.
                try:
                    if self._token is token:
                        try:
                            return self._store().value
                        except TokenError:
                            pass
                finally:
                    self._lock.release()
            return token.value
        with self._lock:
            token = self._token
            if token is not None and self._clock() < token.expires_at:
                return token.value  # another caller fetched while we waited
            return self._store().value

    def invalidate(self, value: str) -> None:
        """Forgets `value` after the upstream rejected it (401); a newer token is kept."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _store(self) -> _Token:
        started = self._clock()
        try:
            value, lifetime = self._fetch()
        except TokenError:
            metrics.TOKEN_REFRESHES.labels(self.name, "error").inc()
            raise
        metrics.TOKEN_REFRESHES.labels(self.name, "ok").inc()
        self._fetches += 1  # under the lock
        lifetime = max(float(lifetime), 1.0)
        token = _Token(
            value=value,
            refresh_at=started + lifetime - min(_REFRESH_AHEAD_S, lifetime / 10),
            expires_at=started + lifetime - min(_EXPIRY_SKEW_S, lifetime / 20),
        )
        self._token = token
        return token
