"""StreamingProcessor: order, keep-alive, timeouts, disconnects and limits, with fake producers.

Producers here block on events the test controls (never on sleeps); the processor's own
timeouts are set small so that the timeout paths run quickly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ftproxy.errors import ApiError
from ftproxy.streaming import (
    CLIENT_GONE,
    CONTENT_STARTS,
    KEEPALIVE_COMMENT,
    Cancellation,
    StreamingProcessor,
    StreamOutcome,
    StreamSettings,
    default_max_streams,
)

WAIT = 10.0  # generous bound for events that should happen at once


class Upstream:
    """A fake upstream read by the producer: blocks until released or interrupted."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.interrupted = threading.Event()
        self.closed = threading.Event()

    def produce(self, chunks: list[bytes], *, wait_before: int = 0):
        def run(cancellation: Cancellation) -> Iterator[bytes]:
            cancellation.on_cancel(self.interrupted.set)
            try:
                for i, chunk in enumerate(chunks):
                    if i == wait_before:
                        while not (self.release.is_set() or self.interrupted.is_set()):
                            self.release.wait(0.01)
                    if cancellation.reason is not None:
                        status, message = cancellation.reason
                        if status != CLIENT_GONE:
                            yield f"error {status}: {message}".encode()
                        return
                    if i == 0:
                        yield CONTENT_STARTS
                    yield chunk
            finally:
                self.closed.set()

        return run


def open_stream(processor: StreamingProcessor, produce) -> tuple[object, list[StreamOutcome]]:
    outcomes: list[StreamOutcome] = []
    body = processor.open_stream(
        processor.acquire(), produce, cancellation=Cancellation(), on_finish=outcomes.append
    )
    return body, outcomes


def test_chunks_arrive_in_order_and_the_outcome_is_reported_once() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=2))
    upstream = Upstream()
    upstream.release.set()
    body, outcomes = open_stream(processor, upstream.produce([b"a", b"b", b"c"]))
    assert list(body) == [b"a", b"b", b"c"]
    body.close()
    assert len(outcomes) == 1 and outcomes[0].ended == "complete" and outcomes[0].first_chunk_at
    assert upstream.closed.is_set()


def test_keepalive_comments_while_the_first_token_is_slow() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=1, keepalive_s=0.01))
    upstream = Upstream()
    body, outcomes = open_stream(processor, upstream.produce([b"first", b"second"]))
    chunks = iter(body)
    assert next(chunks) == KEEPALIVE_COMMENT
    assert next(chunks) == KEEPALIVE_COMMENT
    upstream.release.set()
    rest = [c for c in chunks if c != KEEPALIVE_COMMENT]
    assert rest == [b"first", b"second"]
    assert outcomes[0].pings >= 2 and outcomes[0].ended == "complete"


@pytest.mark.parametrize(
    ("settings", "wait_before", "ended"),
    [
        (StreamSettings(max_streams=1, first_token_timeout_s=0.05), 0, "timeout_first_token"),
        (StreamSettings(max_streams=1, idle_timeout_s=0.05), 1, "timeout_idle"),
        (StreamSettings(max_streams=1, total_timeout_s=0.05), 1, "timeout_total"),
    ],
)
def test_timeouts_interrupt_the_upstream_and_end_with_an_error_event(
    settings: StreamSettings, wait_before: int, ended: str
) -> None:
    processor = StreamingProcessor(settings)
    upstream = Upstream()
    body, outcomes = open_stream(processor, upstream.produce([b"a", b"b"], wait_before=wait_before))
    chunks = [c for c in body if c != KEEPALIVE_COMMENT]
    assert chunks[-1].startswith(b"error 504:")
    assert chunks[:-1] == [b"a"][:wait_before]
    assert upstream.interrupted.is_set() and upstream.closed.wait(WAIT)
    assert outcomes[0].ended == ended
    processor.acquire().release()  # the slot came back


def test_client_disconnect_mid_stream_cancels_the_upstream_and_frees_the_slot() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=1))
    upstream = Upstream()
    body, outcomes = open_stream(processor, upstream.produce([b"a", b"b", b"c"], wait_before=1))
    chunks = iter(body)
    assert next(chunks) == b"a"
    body.close()  # what the WSGI server does when the client hangs up
    assert upstream.interrupted.is_set() and upstream.closed.wait(WAIT)
    assert outcomes[0].ended == "client_disconnected"
    processor.acquire().release()


def test_close_before_iterating_still_cleans_up() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=1))
    upstream = Upstream()
    body, outcomes = open_stream(processor, upstream.produce([b"a"]))
    body.close()
    assert upstream.closed.wait(WAIT)
    assert [o.ended for o in outcomes] == ["client_disconnected"]
    processor.acquire().release()


def test_a_prelude_before_the_content_does_not_end_the_first_token_wait() -> None:
    processor = StreamingProcessor(
        StreamSettings(max_streams=1, idle_timeout_s=0.01, first_token_timeout_s=60, keepalive_s=0.02)
    )
    upstream = Upstream()

    def produce(cancellation: Cancellation) -> Iterator[bytes]:
        cancellation.on_cancel(upstream.interrupted.set)
        yield b"role chunk"  # e.g. OpenAI's role chunk or Anthropic's message_start
        upstream.release.wait(WAIT)  # the model thinks for longer than the idle timeout
        yield CONTENT_STARTS
        yield b"token"

    body, outcomes = open_stream(processor, produce)
    chunks = iter(body)
    assert next(chunks) == b"role chunk"
    assert next(chunks) == KEEPALIVE_COMMENT  # still waiting for the first token, not cut as idle
    upstream.release.set()
    assert [c for c in chunks if c != KEEPALIVE_COMMENT] == [b"token"]
    assert outcomes[0].ended == "complete" and outcomes[0].first_chunk_at is not None


def test_a_slow_client_blocks_the_producer_instead_of_buffering() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=1, queue_chunks=2))
    produced: list[int] = []

    def produce(cancellation: Cancellation) -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield b"x"

    body, outcomes = open_stream(processor, produce)
    chunks = iter(body)
    next(chunks)
    # The producer can be at most queue_chunks + 1 (the one in hand) ahead of the consumer.
    assert len(produced) <= 1 + 2 + 1
    body.close()
    assert outcomes[0].ended == "client_disconnected"


def test_streams_beyond_the_limit_get_503_with_retry_after() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=2, retry_after_s=3))
    first, second = processor.acquire(), processor.acquire()
    with pytest.raises(ApiError) as refused:
        processor.acquire()
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "3"}
    first.release()
    first.release()  # releasing twice gives back one slot only
    processor.acquire()
    with pytest.raises(ApiError):
        processor.acquire()
    second.release()


@pytest.mark.parametrize(("threads", "streams"), [(1, 1), (8, 4), (32, 28), (128, 112), (512, 448)])
def test_default_stream_limit_keeps_threads_for_short_requests(threads: int, streams: int) -> None:
    assert default_max_streams(threads) == streams
