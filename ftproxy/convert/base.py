"""The contract between endpoints and format converters.

An endpoint knows which API the client speaks (`ClientApi`) and which API the chosen deployment
speaks (`UpstreamApi`). For that pair, `convert.build_request` turns the client's body into an
`UpstreamRequest`, and `convert.translator` returns a `Translator` that turns the upstream's
answer back into the client's format: event by event for streams, whole for JSON answers.
One translator core serves both, so streamed and non-streamed answers carry the same text and
the same usage.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from ftproxy.wire.apis import StreamFormat

NO_HEADERS: Mapping[str, str] = MappingProxyType({})  # read only, so one is shared by every request


class UpstreamRequest(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: as immutable, and made (once per request) in
    # half the instructions: a frozen dataclass's __init__ sets each field by object.__setattr__.
    path: str  # appended to the deployment URL, query string included
    body: dict[str, Any]
    stream_format: StreamFormat = StreamFormat.SSE_JSON
    headers: Mapping[str, str] = NO_HEADERS  # e.g. Accept, anthropic-beta


@dataclass(slots=True)
class Usage:
    """Token counts of one answer, as the upstream reported them.

    `input_tokens` counts every prompt token, cached ones included (OpenAI's `prompt_tokens`);
    `cache_read_tokens` / `cache_write_tokens` say how many of them were read from / written to a
    prompt cache (Anthropic reports those apart from its `input_tokens`; the converters add them
    back). `output_tokens` includes reasoning/thinking tokens.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ClientRequestError(ValueError):
    """The client's body cannot be served; the message says what to fix (HTTP 400)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class Translator(Protocol):
    """Per-request state of one upstream answer being turned into the client's format."""

    usage: Usage | None  # known once the upstream reported it
    # True from the first client chunk that carries answer content (text, thinking, a tool call),
    # set before that chunk is yielded: what "first token" means for timeouts and TTFT.
    content_started: bool

    def stream_events(self, event: dict[str, Any]) -> Iterator[bytes]:
        """Client SSE bytes for one decoded upstream stream event (maybe none)."""
        ...

    def stream_end(self) -> Iterator[bytes]:
        """Closing bytes once the upstream stream ended; an error event if it ended early."""
        ...

    def stream_error(self, status: int, message: str) -> bytes:
        """An error event in the client's protocol, for failures after the first byte."""
        ...

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's JSON answer for a whole (non-streamed) upstream answer."""
        ...
