"""Errors: `ApiError` (a client can see it, rendered in the shape of the API the client speaks)
and `ConfigError` (a configuration mistake found at start-up, naming file, key and fix).

OpenAI:    {"error": {"message", "type", "param", "code"}}
Anthropic: {"type": "error", "error": {"type", "message"}}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ftproxy._json import dumps, dumps_ascii, loads

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


@dataclass
class ApiError(Exception):
    """An answer other than success, with everything needed to render it in any API's shape."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"

    def openai_body(self) -> bytes:
        kind = _OPENAI_TYPES.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )
        return _render(
            {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}
        )

    def anthropic_body(self) -> bytes:
        kind = _ANTHROPIC_TYPES.get(
            self.status, "api_error" if self.status >= 500 else "invalid_request_error"
        )
        return _render({"type": "error", "error": {"type": kind, "message": self.message}})


def _render(body: dict[str, Any]) -> bytes:
    # A message may quote what the client sent (a model name, a field): if that holds text the
    # fast encoder refuses (a lone surrogate), escape it rather than fail to answer at all.
    try:
        return dumps(body)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError; stdlib: UnicodeEncodeError
        return dumps_ascii(body)


def upstream_message(body: bytes) -> str | None:
    """The human message inside an upstream error body, whatever its dialect."""
    try:
        data: Any = loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, list) and error:  # the Orchestration Service may list several
            error = error[0]
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        for key in ("message", "Message", "error_description", "detail"):
            if isinstance(data.get(key), str):
                return data[key]
        if isinstance(error, str):
            return error
    return None


def upstream_filtered(body: bytes) -> bool:
    """Whether an upstream error is a content filter's block: the Orchestration Service names
    the module in `location` ("Filtering Module - Input Filter")."""
    if b"Filter" not in body:  # the common error is not one: no parse
        return False
    try:
        data: Any = loads(body)
    except ValueError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, list) and error:
        error = error[0]
    location = error.get("location") if isinstance(error, dict) else None
    return isinstance(location, str) and "filter" in location.lower()


class ConfigError(ValueError):
    def __init__(self, source: str, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{source}: {key}: {problem}. Fix: {fix}")
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix

    @property
    def mistakes(self) -> tuple[ConfigError, ...]:
        """Every mistake this error stands for, each naming file, key and fix."""
        return (self,)


class ConfigErrors(ConfigError):
    """Several configuration mistakes found in one pass, so that a user fixes them all at once.

    Its own fields are the first mistake's (callers that show one error still work)."""

    def __init__(self, mistakes: Sequence[ConfigError]) -> None:
        first = mistakes[0]
        super().__init__(first.source, first.key, first.problem, first.fix)
        self.args = ("\n".join(str(m) for m in mistakes),)
        self._mistakes = tuple(mistakes)

    @property
    def mistakes(self) -> tuple[ConfigError, ...]:
        return self._mistakes
