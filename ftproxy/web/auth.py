"""Client authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`.

Keys are compared as SHA-256 digests with `hmac.compare_digest` against every configured key,
so the time taken says nothing about how much of a key was right or which key matched. Exact
match only (the reference proxies matched substrings). Keys never reach logs: callers get the
key's configured name, or an opaque label ("key#2"), for the key that matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from ftproxy.errors import ApiError
from ftproxy.web.wsgi import Request


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class ClientAuth:
    def __init__(
        self, keys: Sequence[str], *, names: Sequence[str] | None = None, allow_unauthenticated: bool = False
    ) -> None:
        self._digests = tuple(_digest(k) for k in keys)
        self._names = tuple(names) if names is not None else tuple(f"key#{i + 1}" for i in range(len(keys)))
        self._open = allow_unauthenticated and not keys

    def authenticate(self, request: Request) -> str:
        """Returns the name of the matching key (never the key); raises ApiError(401) otherwise."""
        if self._open:
            return "anonymous"
        presented = [k for k in (_bearer(request.header("authorization")), request.header("x-api-key")) if k]
        if not presented:
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                code="invalid_api_key",
            )
        for key in presented:
            digest = _digest(key)
            matched = -1
            for index, known in enumerate(self._digests):
                if hmac.compare_digest(digest, known):
                    matched = index
            if matched >= 0:
                return self._names[matched]
        raise ApiError(401, "invalid API key", code="invalid_api_key")


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
