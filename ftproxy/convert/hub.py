"""The translator of every converted pair: an upstream decoder and a client encoder joined by
canonical events (`convert.events`).

Streams: each upstream event is decoded into canonical events and each of those encoded at once,
so nothing is held back. Whole answers: the same decoder turns the reply into the same events, a
`Collector` folds them into an `Answer` and the encoder renders it. Both paths share the decoder
and the encoder, so streamed and non-streamed answers carry the same text and the same usage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ftproxy.convert.base import Usage
from ftproxy.convert.events import (
    Answer,
    BlockDelta,
    Collector,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
)

INCOMPLETE = "the upstream stream ended before the answer was complete"


class Decoder(Protocol):
    def feed(self, event: dict[str, Any]) -> list[Event]: ...

    def finish(self) -> list[Event]: ...

    def whole(self, body: dict[str, Any]) -> list[Event]: ...

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        """What a `Collector` folds from `whole(body)`, built directly for the commonest whole
        answer (text alone); None for any other, which `whole` then decodes."""
        ...


class Encoder(Protocol):
    def stream(self, event: Event) -> Iterator[bytes]: ...

    def stream_end(self) -> Iterator[bytes]: ...

    def error(self, status: int, message: str) -> bytes: ...

    def render(self, answer: Answer) -> dict[str, Any]: ...


class HubTranslator:
    __slots__ = ("_complete", "_decoder", "_encoder", "_failed", "content_started", "usage")

    def __init__(self, decoder: Decoder, encoder: Encoder) -> None:
        self.usage: Usage | None = None
        self.content_started = False
        self._decoder = decoder
        self._encoder = encoder
        self._complete = False
        self._failed = False

    def stream_events(self, event: dict[str, Any]) -> Iterator[bytes]:
        if self._failed or self._complete:
            return
        for canonical in self._decoder.feed(event):
            yield from self._emit(canonical)
            if self._failed:
                return

    def _emit(self, event: Event) -> Iterator[bytes]:
        if isinstance(event, StreamError):
            self._failed = True
            yield self._encoder.error(event.status, event.message)
            return
        if isinstance(event, MessageDelta | MessageStart) and event.usage is not None:
            self.usage = event.usage
        elif isinstance(event, MessageStop):
            self._complete = True
        elif isinstance(event, BlockDelta):  # a block's start may come long before its first token
            self.content_started = True
        yield from self._encoder.stream(event)

    def stream_end(self) -> Iterator[bytes]:
        if self._failed:
            return
        if not self._complete:
            for canonical in self._decoder.finish():
                yield from self._emit(canonical)
                if self._failed:
                    return
        if not self._complete:
            self._failed = True
            yield self._encoder.error(502, INCOMPLETE)
            return
        yield from self._encoder.stream_end()

    def stream_error(self, status: int, message: str) -> bytes:
        self._failed = True
        return self._encoder.error(status, message)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._decoder.plain_answer(body)
        if answer is None:
            collector = Collector()
            for event in self._decoder.whole(body):
                collector.add(event)
            answer = collector.answer
        self.usage = answer.usage
        return self._encoder.render(answer)
