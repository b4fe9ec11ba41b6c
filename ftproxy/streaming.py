"""StreamingProcessor: streams relayed by a bounded executor through a bounded queue.

Every streamed answer uses two threads:

- the *producer*, a thread of the processor's executor, reads the upstream's bytes, decodes and
  translates them (the `produce` iterator given to `open_stream`) and puts client bytes on a
  bounded queue; when the client reads slowly the queue fills, the producer blocks, and TCP
  flow control slows the upstream: nothing is ever gathered in memory;
- the *consumer*, Granian's blocking thread, iterates the WSGI response (`_Stream`)
  and takes from the queue with a timeout, so that while the upstream is silent it can
  (a) send an SSE comment (`: ping`) every `keepalive_s` — load balancers cut idle streams,
      and a write is also how a hung-up client is noticed;
  (b) end the stream with an error event in the client's protocol when the first token, the
      next chunk, or the whole answer takes longer than its timeout;
  (c) notice that the client went away (Granian closes the iterator) and cancel the upstream
      call: `cancel()` shuts the upstream socket down, which wakes a producer blocked in recv
      at once, so both threads and the upstream connection are freed.

Streams beyond `max_streams` are refused up front with 503 and `Retry-After` instead of waiting
for a thread (`acquire`). The executor has exactly `max_streams` threads, so a stream that got
a slot never queues for a producer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ftproxy import metrics
from ftproxy.errors import ApiError

KEEPALIVE_COMMENT = b": ping\n\n"
# Yielded by a producer (not sent) right before the first chunk that carries answer content.
CONTENT_STARTS = object()
CLIENT_GONE = 499  # the cancellation status of a stream whose client left (nginx's code)


def default_max_streams(blocking_threads: int) -> int:
    """Streams a worker may hold: each holds one of Granian's blocking threads for its whole
    life, so some threads are kept free for short requests (/health, /ready, /metrics, JSON
    answers) — otherwise a burst of streams would make health checks queue behind them."""
    reserve = max(4, blocking_threads // 8)
    return max(1, blocking_threads - reserve)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    # per worker; None: derived from Granian's blocking threads (`default_max_streams`)
    max_streams: int | None = None
    keepalive_s: float = 10.0  # below the 60 s idle cut of common load balancers
    first_token_timeout_s: float = 300.0  # thinking models can take minutes
    idle_timeout_s: float = 300.0  # between two chunks once the answer flows
    total_timeout_s: float = 3600.0
    queue_chunks: int = 64  # client chunks buffered between producer and consumer
    retry_after_s: int = 2  # told to clients refused for lack of stream slots


@dataclass(slots=True)
class StreamOutcome:
    """How a stream ended; handed to `on_finish` once, after the producer has stopped."""

    first_chunk_at: float | None = None  # time.perf_counter() when CONTENT_STARTS came through
    # complete | client_disconnected | timeout_first_token | timeout_idle | timeout_total
    ended: str = "complete"
    pings: int = 0


class Cancellation:
    """Shared between one stream's producer and consumer: the reason and how to interrupt."""

    __slots__ = ("_interrupt", "_lock", "reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: tuple[int, str] | None = None  # (status, message) for the client's error event
        self._interrupt: Callable[[], None] | None = None

    def on_cancel(self, interrupt: Callable[[], None]) -> None:
        """Registers how to wake a producer blocked on the upstream (e.g. shut its socket)."""
        with self._lock:
            self._interrupt = interrupt

    def cancel(self, status: int, message: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = (status, message)
            interrupt = self._interrupt
        if interrupt is not None:
            interrupt()  # outside the lock: it does I/O

    @property
    def cancelled(self) -> bool:
        return self.reason is not None


_END = object()


class StreamingProcessor:
    """One per worker: the stream slots, the producer executor and the stream timeouts."""

    def __init__(self, settings: StreamSettings | None = None, *, blocking_threads: int = 128) -> None:
        self.settings = settings = settings or StreamSettings()
        self.max_streams = settings.max_streams or default_max_streams(blocking_threads)
        self._slots = threading.BoundedSemaphore(self.max_streams)
        self._executor = ThreadPoolExecutor(max_workers=self.max_streams, thread_name_prefix="ftproxy-stream")

    def acquire(self) -> _Slot:
        """A stream slot, or a 503 with Retry-After at once when all are taken."""
        if not self._slots.acquire(blocking=False):
            metrics.STREAM_REJECTIONS.labels("max_streams").inc()
            raise ApiError(
                503,
                f"ftproxy is serving its maximum of {self.max_streams} concurrent streams; retry shortly",
                code="too_many_streams",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )
        return _Slot(self._slots)

    def open_stream(
        self,
        slot: _Slot,
        produce: Callable[[Cancellation], Iterator[bytes]],
        *,
        cancellation: Cancellation,
        on_finish: Callable[[StreamOutcome], None] | None = None,
    ) -> Iterator[bytes]:
        """Starts the producer now and returns the iterator Granian sends to the client.

        `produce(cancellation)` yields client bytes, and `CONTENT_STARTS` once, right before the
        first bytes that carry answer content (until then the first-token timeout applies, after
        it the idle timeout). When `cancellation.cancelled` it must end with the client's error
        event for `cancellation.reason` (or just end if the client is gone).
        """
        stream = _Stream(self.settings, slot, cancellation, on_finish)
        self._executor.submit(stream.run_producer, produce)
        return stream

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Slot:
    __slots__ = ("_released", "_semaphore")

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore = semaphore
        self._released = False

    def release(self) -> None:
        # Called by exactly one thread (the consumer, or the endpoint on an early error).
        if not self._released:
            self._released = True
            self._semaphore.release()


class _Stream:
    """One stream's queue and its two sides; the consumer side is the WSGI response iterable."""

    def __init__(
        self,
        settings: StreamSettings,
        slot: _Slot,
        cancellation: Cancellation,
        on_finish: Callable[[StreamOutcome], None] | None,
    ) -> None:
        self._settings = settings
        self._slot = slot
        self._cancellation = cancellation
        self._on_finish = on_finish
        self._queue: queue.Queue[object] = queue.Queue(maxsize=settings.queue_chunks)
        self._producer_done = threading.Event()
        self._consumer_gone = threading.Event()
        self._started = time.perf_counter()
        self._outcome = StreamOutcome()
        self._finished = False
        self._consumer = self._consume()

    # producer side (executor thread) -------------------------------------------------------

    def run_producer(self, produce: Callable[[Cancellation], Iterator[bytes]]) -> None:
        try:
            for chunk in produce(self._cancellation):
                if not self._put(chunk):
                    return
        finally:
            self._put(_END)
            self._producer_done.set()

    def _put(self, item: object) -> bool:
        """Waits for room in the queue, but gives up once the consumer has gone."""
        while not self._consumer_gone.is_set():
            try:
                self._queue.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    # consumer side (Granian's thread) ------------------------------------------------------
    # The WSGI server iterates this object and calls close() when done or when the client left,
    # even if it never started iterating; cleanup runs exactly once either way.

    def __iter__(self) -> Iterator[bytes]:
        return self._consumer

    def close(self) -> None:
        self._consumer.close()  # runs `_consume`'s cleanup if it had started
        if not self._finished:  # never started: nobody else will clean up
            self._outcome.ended = "client_disconnected"
            self._cancellation.cancel(CLIENT_GONE, "client closed the connection")
            self._finish()

    def _consume(self) -> Iterator[bytes]:
        outcome = self._outcome
        settings = self._settings
        last_activity = self._started
        try:
            while True:
                deadline, reason = self._deadline(outcome.first_chunk_at is not None, last_activity)
                now = time.perf_counter()
                try:
                    item = self._queue.get(timeout=min(settings.keepalive_s, max(deadline - now, 0.0)))
                except queue.Empty:
                    if time.perf_counter() >= deadline:
                        outcome.ended = reason
                        yield from self._drain_after_cancel(504, _TIMEOUT_MESSAGES[reason])
                        return
                    outcome.pings += 1
                    yield KEEPALIVE_COMMENT
                    continue
                if item is _END:
                    return
                last_activity = time.perf_counter()
                if item is CONTENT_STARTS:
                    # The answer itself begins: the first-token wait is over, the idle timeout
                    # applies from here (a role chunk or message_start before it does not count).
                    outcome.first_chunk_at = last_activity
                    continue
                yield item  # type: ignore[misc]
        except GeneratorExit:
            outcome.ended = "client_disconnected"
            self._cancellation.cancel(CLIENT_GONE, "client closed the connection")
            raise
        finally:
            self._finish()

    def _finish(self) -> None:
        self._finished = True
        self._consumer_gone.set()
        # The producer stops promptly (its upstream socket is shut down); wait for it briefly so
        # that the outcome sees its final state (usage), never forever.
        self._producer_done.wait(timeout=2.0)
        self._slot.release()
        if self._on_finish is not None:
            self._on_finish(self._outcome)

    def _deadline(self, flowing: bool, last_activity: float) -> tuple[float, str]:
        s = self._settings
        total = self._started + s.total_timeout_s
        if flowing:
            step, reason = last_activity + s.idle_timeout_s, "timeout_idle"
        else:
            step, reason = self._started + s.first_token_timeout_s, "timeout_first_token"
        return (total, "timeout_total") if total <= step else (step, reason)

    def _drain_after_cancel(self, status: int, message: str) -> Iterator[bytes]:
        """After a timeout: the producer writes the client's error event and ends."""
        self._cancellation.cancel(status, message)
        deadline = time.perf_counter() + 2.0
        while (left := deadline - time.perf_counter()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if item is _END:
                return
            yield item  # type: ignore[misc]


_TIMEOUT_MESSAGES = {
    "timeout_first_token": "SAP AI Core sent no answer before the first-token timeout",
    "timeout_idle": "SAP AI Core stopped sending in the middle of the answer (idle timeout)",
    "timeout_total": "the answer took longer than the total stream timeout",
}
