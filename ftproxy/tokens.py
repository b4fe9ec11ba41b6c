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
from typing import TYPE_CHECKING, NamedTuple

import httpx

from ftproxy import metrics
from ftproxy._json import loads

if TYPE_CHECKING:
    from ftproxy.config import ServiceKey

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


def oauth_fetcher(key: ServiceKey, http: httpx.Client, *, style: str = "basic") -> Callable[[], FetchResult]:
    """A fetch function for SAP's XSUAA token endpoint, credentials sent Basic or as a form."""

    def fetch() -> FetchResult:
        try:
            if style == "form":
                response = http.post(
                    key.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": key.client_id,
                        "client_secret": key.client_secret,
                    },
                )
            else:
                response = http.post(
                    key.token_url,
                    params={"grant_type": "client_credentials"},
                    auth=(key.client_id, key.client_secret),
                )
        except httpx.TimeoutException:
            raise TokenError(f"token endpoint {key.token_url} timed out") from None
        except httpx.HTTPError as exc:
            raise TokenError(f"token endpoint {key.token_url} unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise TokenError(
                f"token endpoint {key.token_url} answered {response.status_code} "
                f"for client id {key.client_id}",
                status=response.status_code,
            )
        try:
            data = loads(response.content)
            value = data["access_token"]
            lifetime = float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TokenError(
                f"token endpoint {key.token_url} answered without a usable access_token"
            ) from None
        if not isinstance(value, str) or not value:
            raise TokenError(f"token endpoint {key.token_url} answered an empty access_token")
        return value, lifetime

    return fetch
