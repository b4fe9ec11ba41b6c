"""Minimal WSGI plumbing: a request view over the environ and a response value.

`app.Gateway` turns a `Response` into the WSGI call (status line, headers, body); handlers only
build one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ftproxy._json import UnsafeValue, dumps, parse_request
from ftproxy.errors import ApiError
from ftproxy.settings import DEFAULT_MAX_BODY_BYTES

_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def status_line(status: int) -> str:
    return _STATUS_LINES.get(status) or f"{status} Unknown"


class Request:
    __slots__ = ("_body", "environ", "max_body", "method", "path")

    def __init__(self, environ: dict[str, Any], *, max_body: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.environ = environ
        self.max_body = max_body
        self.method: str = environ.get("REQUEST_METHOD", "GET")
        self.path: str = environ.get("PATH_INFO", "/") or "/"
        self._body: bytes | None = None

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return self.environ.get(key)

    def body(self) -> bytes:
        limit = self.max_body
        if self._body is None:
            length_header = self.environ.get("CONTENT_LENGTH") or ""
            stream = self.environ["wsgi.input"]
            if length_header.isdigit():
                length = int(length_header)
                if length > limit:
                    raise ApiError(413, f"request body is {length} bytes; the limit is {limit}")
                self._body = stream.read(length) if length else b""
                if len(self._body) < length:
                    # The client closed before sending all it announced: never forward a truncated body.
                    self._body = None
                    raise ApiError(
                        400, f"request body ended after fewer bytes than its Content-Length ({length})"
                    )
            else:
                data = stream.read(limit + 1)
                if len(data) > limit:
                    raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
                self._body = data
        return self._body

    def json_object(self) -> dict[str, Any]:
        raw = self.body()
        if not raw.strip():
            raise ApiError(400, "request body is empty; send a JSON object")
        try:
            data = parse_request(raw)
        except UnsafeValue as exc:
            raise ApiError(400, f"request body field '{exc.path}' {exc.problem}", param=exc.path) from None
        except RecursionError:  # the stdlib parser (free-threaded builds) recurses per level
            raise ApiError(400, "request body is nested too deeply") from None
        except ValueError:
            raise ApiError(400, "request body is not valid JSON (UTF-8 encoded)") from None
        if not isinstance(data, dict):
            raise ApiError(400, "request body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes]
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, dumps(data))

    @classmethod
    def answer(cls, answer: dict[str, Any] | Iterable[bytes]) -> Response:
        """The HTTP form of a proxied answer: a JSON object, or the chunks of a stream."""
        return cls.json(answer) if isinstance(answer, dict) else cls.event_stream(answer)

    @classmethod
    def event_stream(cls, chunks: Iterable[bytes]) -> Response:
        # no-transform/no buffering: proxies in front (nginx) must pass every event at once.
        return cls(
            200,
            chunks,
            content_type="text/event-stream; charset=utf-8",
            headers=[("Cache-Control", "no-cache, no-transform"), ("X-Accel-Buffering", "no")],
        )
