"""StreamSlots and Stream: order, keep-alive, timeouts, disconnects and limits, with fake producers.

A fake producer reads a script the test feeds through a queue, waiting at most until `until.at`
for each item (as the upstream transport does) and yielding IDLE when nothing came. The stream's
own timeouts are set small so that the timeout paths run quickly; nothing sleeps.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ftproxy.errors import ApiError
from ftproxy.streaming import (
    CONTENT_STARTS,
    IDLE,
    KEEPALIVE_COMMENT,
    Producer,
    Signal,
    StreamOutcome,
    StreamSettings,
    StreamSlots,
    default_max_streams,
)
from ftproxy.upstream import WaitUntil

WAIT = 10.0  # generous bound for events that should happen at once
END = object()


class Upstream:
    """What the fake producer reads: items put by the test; END ends the answer."""

    def __init__(self, *items: object) -> None:
        self.items: queue.Queue[object] = queue.Queue()
        for item in items:
            self.items.put(item)
        self.waits: list[float] = []
        self.closed = threading.Event()

    def produce(self, until: WaitUntil) -> Iterator[bytes | Signal]:
        try:
            while True:
                timeout = max(0.0, until.at - time.perf_counter())
                self.waits.append(timeout)
                try:
                    item = self.items.get(timeout=timeout)
                except queue.Empty:
                    yield IDLE
                    continue
                if item is END:
                    return
                yield item
        finally:
            self.closed.set()


def error_event(status: int, message: str) -> bytes:
    return f"error {status}: {message}".encode()


class Body:
    """What the request's Call does with a stream: it holds the slot, iterates the chunks and,
    when they end or the body is closed, closes the stream and gives the slot back, once."""

    def __init__(self, processor: StreamSlots, produce: Callable[[WaitUntil], Producer]) -> None:
        self.slot = processor.acquire()
        until = WaitUntil()
        self.stream = processor.open(produce(until), until, error_event)
        self.outcomes: list[StreamOutcome] = []

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        finally:
            self.close()

    def close(self) -> None:
        self.stream.close()
        if not self.outcomes:
            self.slot.release()
            self.outcomes.append(self.stream.outcome)


def open_stream(
    processor: StreamSlots, produce: Callable[[WaitUntil], Producer]
) -> tuple[Body, list[StreamOutcome]]:
    body = Body(processor, produce)
    return body, body.outcomes


def test_chunks_arrive_in_order_and_the_outcome_is_reported_once() -> None:
    processor = StreamSlots(StreamSettings(max_streams=2))
    upstream = Upstream(CONTENT_STARTS, b"a", b"b", b"c", END)
    body, outcomes = open_stream(processor, upstream.produce)
    assert list(body) == [b"a", b"b", b"c"]
    body.close()
    assert len(outcomes) == 1 and outcomes[0].ended == "complete" and outcomes[0].first_chunk_at
    assert upstream.closed.is_set()


def test_the_chunks_are_relayed_on_the_thread_that_iterates() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1))
    threads: list[threading.Thread] = []

    def produce(until: WaitUntil) -> Iterator[bytes]:
        threads.append(threading.current_thread())
        yield b"a"

    body, _ = open_stream(processor, produce)
    assert list(body) == [b"a"]
    assert threads == [threading.current_thread()]


def test_keepalive_comments_while_the_first_token_is_slow() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1, keepalive_s=0.01))
    upstream = Upstream()
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = iter(body)
    assert next(chunks) == KEEPALIVE_COMMENT
    assert next(chunks) == KEEPALIVE_COMMENT
    for item in (CONTENT_STARTS, b"first", b"second", END):
        upstream.items.put(item)
    rest = [c for c in chunks if c != KEEPALIVE_COMMENT]
    assert rest == [b"first", b"second"]
    assert outcomes[0].pings >= 2 and outcomes[0].ended == "complete"
    # the producer never waited past the next keep-alive
    assert max(upstream.waits) <= 0.01


@pytest.mark.parametrize(
    ("settings", "before", "ended"),
    [
        (StreamSettings(max_streams=1, first_token_timeout_s=0.05), [], "timeout_first_token"),
        (StreamSettings(max_streams=1, idle_timeout_s=0.05), [CONTENT_STARTS, b"a"], "timeout_idle"),
        (StreamSettings(max_streams=1, total_timeout_s=0.05), [CONTENT_STARTS, b"a"], "timeout_total"),
    ],
)
def test_timeouts_close_the_upstream_and_end_with_an_error_event(
    settings: StreamSettings, before: list[object], ended: str
) -> None:
    processor = StreamSlots(settings)
    upstream = Upstream(*before)
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = [c for c in body if c != KEEPALIVE_COMMENT]
    assert chunks[-1].startswith(b"error 504:")
    assert chunks[:-1] == [b for b in before if isinstance(b, bytes)]
    assert upstream.closed.is_set()  # closed before the error event went out
    assert outcomes[0].ended == ended
    processor.acquire().release()  # the slot came back


def test_the_total_timeout_also_ends_a_stream_that_never_pauses() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1, total_timeout_s=0.05))
    finished = threading.Event()

    def produce(until: WaitUntil) -> Iterator[bytes | Signal]:
        yield CONTENT_STARTS
        while not finished.wait(0.01):  # an upstream that keeps sending, never idle
            yield b"x"

    body, outcomes = open_stream(processor, produce)
    chunks = list(body)
    finished.set()
    assert chunks[-1].startswith(b"error 504:") and set(chunks[:-1]) <= {b"x"}
    assert outcomes[0].ended == "timeout_total"


@pytest.mark.parametrize("sending", [False, True], ids=["idle", "sending"])
def test_the_drain_deadline_ends_the_stream_with_a_503_event(
    monkeypatch: pytest.MonkeyPatch, sending: bool
) -> None:
    """A stop's deadline (published by the drain watcher) ends a stalled stream at its next wake-up
    and a busy one at its next chunk, with the client's error event, before the server cuts it."""
    from ftproxy import runtime

    monkeypatch.setattr(runtime, "drain_deadline_at", math.inf)
    processor = StreamSlots(StreamSettings(max_streams=1, keepalive_s=0.01, total_timeout_s=WAIT))
    upstream = Upstream(CONTENT_STARTS, b"a")
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = iter(body)
    assert next(chunks) == b"a"
    runtime.publish_drain_deadline(time.perf_counter())
    if sending:
        upstream.items.put(b"b")
    rest = [c for c in chunks if c != KEEPALIVE_COMMENT]
    assert len(rest) == 1 and rest[0].startswith(b"error 503: ftproxy is shutting down")
    assert upstream.closed.is_set()
    assert outcomes[0].ended == "drain_deadline"


def test_a_known_drain_deadline_bounds_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the deadline is known, a stalled stream waits for it, not for its next keep-alive."""
    from ftproxy import runtime

    monkeypatch.setattr(runtime, "drain_deadline_at", math.inf)
    processor = StreamSlots(StreamSettings(max_streams=1, keepalive_s=WAIT * 10, total_timeout_s=WAIT))
    runtime.publish_drain_deadline(time.perf_counter() + 0.05)
    upstream = Upstream(CONTENT_STARTS, b"a")
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = list(body)
    assert chunks[0] == b"a" and chunks[-1].startswith(b"error 503:")
    assert max(upstream.waits) <= 0.05
    assert outcomes[0].ended == "drain_deadline"


def test_client_disconnect_mid_stream_closes_the_upstream_and_frees_the_slot() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1))
    upstream = Upstream(CONTENT_STARTS, b"a")
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = iter(body)
    assert next(chunks) == b"a"
    body.close()  # what the WSGI server does when the client hangs up
    assert upstream.closed.is_set()
    assert outcomes[0].ended == "client_disconnected"
    processor.acquire().release()


def test_close_before_iterating_still_cleans_up() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1))
    upstream = Upstream(b"a")
    body, outcomes = open_stream(processor, upstream.produce)
    body.close()
    body.close()  # the clean-up runs once
    assert [o.ended for o in outcomes] == ["client_disconnected"]
    processor.acquire().release()


def test_a_prelude_before_the_content_does_not_end_the_first_token_wait() -> None:
    processor = StreamSlots(
        StreamSettings(max_streams=1, idle_timeout_s=0.01, first_token_timeout_s=60, keepalive_s=0.02)
    )
    upstream = Upstream(b"role chunk")  # e.g. OpenAI's role chunk or Anthropic's message_start
    body, outcomes = open_stream(processor, upstream.produce)
    chunks = iter(body)
    assert next(chunks) == b"role chunk"
    # the model thinks for longer than the idle timeout: still the first-token wait, not idle
    assert next(chunks) == KEEPALIVE_COMMENT
    for item in (CONTENT_STARTS, b"token", END):
        upstream.items.put(item)
    assert [c for c in chunks if c != KEEPALIVE_COMMENT] == [b"token"]
    assert outcomes[0].ended == "complete" and outcomes[0].first_chunk_at is not None


def test_a_slow_client_pauses_the_producer_instead_of_buffering() -> None:
    processor = StreamSlots(StreamSettings(max_streams=1))
    produced: list[int] = []

    def produce(until: WaitUntil) -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield b"x"

    body, outcomes = open_stream(processor, produce)
    chunks = iter(body)
    next(chunks)
    next(chunks)
    assert len(produced) == 2  # nothing is read ahead of what the client took
    body.close()
    assert outcomes[0].ended == "client_disconnected"


def test_streams_beyond_the_limit_get_503_with_retry_after() -> None:
    processor = StreamSlots(StreamSettings(max_streams=2, retry_after_s=3))
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
