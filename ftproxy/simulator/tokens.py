"""Access tokens that every worker can verify, issued and checked like opaque XSUAA tokens.

A token is `<issued ms>.<expiry ms>.<nonce>.<HMAC>` under a key the parent process creates
before Granian spawns its workers, so a token fetched from one worker is accepted by the others
(with several GIL-build workers each is a separate process with its own memory). Verified tokens
are cached, so the hot path is one dict lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time


class TokenBook:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._known: dict[str, float] = {}
        # Tokens issued before this wall-clock time (ms) are revoked (DELETE /_sim/tokens).
        self._revoked_before = 0

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:40]

    def issue(self, ttl_s: float) -> str:
        issued = int(time.time() * 1000)
        payload = f"{issued:x}.{issued + int(ttl_s * 1000):x}.{secrets.token_hex(12)}"
        token = f"{payload}.{self._sign(payload)}"
        self._remember(token, (issued + ttl_s * 1000) / 1000.0)
        return token

    def valid(self, token: str) -> bool:
        expiry = self._known.get(token)
        if expiry is None:
            expiry = self._verify(token)
            if expiry is None:
                return False
            self._remember(token, expiry)
        return expiry > time.time()

    def _verify(self, token: str) -> float | None:
        payload, _, signature = token.rpartition(".")
        if not payload or not hmac.compare_digest(self._sign(payload), signature):
            return None
        issued_hex, expiry_hex, _ = payload.split(".", 2)
        if int(issued_hex, 16) < self._revoked_before:
            return None
        return int(expiry_hex, 16) / 1000.0

    def _remember(self, token: str, expiry: float) -> None:
        with self._lock:
            if len(self._known) > 10_000:
                # Clients that never reuse tokens (benchmarks) must not grow this without bound.
                now = time.time()
                self._known = {t: exp for t, exp in self._known.items() if exp > now}
            self._known[token] = expiry

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._known)
            self._known.clear()
            # +1 ms: a token issued in this very millisecond is revoked too.
            self._revoked_before = int(time.time() * 1000) + 1
        return count

    def count_valid(self) -> int:
        now = time.time()
        return sum(1 for exp in list(self._known.values()) if exp > now)


__all__ = ["TokenBook"]
