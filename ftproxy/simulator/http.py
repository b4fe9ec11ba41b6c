"""Plain request/response values between the RSGI glue and the protocol handlers.

Handlers take a `Request` and return a `Reply` (a whole body) or a `StreamReply` (an async
producer that owns the response stream). Keeping RSGI out of the handlers makes them testable
and keeps the glue in one place (`app.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ftproxy._json import dumps

Headers = list[tuple[str, str]]
JSON_HEADERS: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str
    # The RSGI headers object: `.get(lowercase-name)`; tests may pass a dict.
    headers: Any
    body: bytes
    # Parsed once, on demand.
    _query: dict[str, str] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            qs = self.query_string
            if "%" in qs or "+" in qs:
                self._query = dict(parse_qsl(qs, keep_blank_values=True))
            else:
                # The common case (api-version=..., alt=sse) needs no unquoting: skip parse_qsl's cost.
                pairs = (p.partition("=") for p in qs.split("&") if p)
                self._query = {k: v for k, _, v in pairs}
        return self._query

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def base_url(self, scheme: str = "http") -> str:
        host = self.headers.get("host") or "127.0.0.1"
        return f"{scheme}://{host}"


@dataclass(slots=True)
class Reply:
    status: int
    headers: Headers
    body: bytes


# The producer gets the RSGI protocol object and returns once the response is finished.
StreamProducer = Callable[[Any], Awaitable[None]]


@dataclass(slots=True)
class StreamReply:
    produce: StreamProducer


def json_reply(status: int, obj: object, headers: Headers | None = None) -> Reply:
    return Reply(status, [*JSON_HEADERS, *(headers or ())], dumps(obj))


__all__ = ["JSON_HEADERS", "Headers", "Reply", "Request", "StreamProducer", "StreamReply", "json_reply"]
