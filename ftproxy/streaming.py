"""StreamSlots: stream slots, and the relay that streams an answer on the serving thread.

A streamed answer is relayed by the thread that serves the request (Granian's blocking thread)
and by no other: it reads the upstream's bytes, decodes and translates them (the producer
iterator that `proxy.py` builds) and hands client bytes straight to the server as the WSGI
response iterable. Nothing crosses a thread or waits in a queue, so a chunk leaves as soon as it
is translated, and a slow client slows the upstream through TCP flow control instead of filling
memory. The same thread also keeps the stream healthy, because the upstream read never blocks
longer than the next thing it has to do (a `WaitUntil` the stream moves before each read, which
the producer hands to `UpstreamResponse.iter_chunks`):

  (a) an SSE comment (`: ping`) goes out after `keepalive_s` without a byte to the client — load
      balancers cut idle streams, and a write is also how a hung-up client is noticed;
  (b) when the first token, the next chunk or the whole answer takes longer than its timeout, the
      stream ends with an error event in the client's protocol;
  (c) when a stop's drain deadline comes (`runtime.drain_deadline_at`), the stream ends with an
      error event (503, retry) a moment before the server would cut it;
  (d) when the client goes away the server closes the iterable: the producer is closed with it,
      which closes the upstream connection. The slot is the request's (`proxy.Call`): its end
      gives it back.

Streams beyond `max_streams` are refused up front with 503 and `Retry-After` (`acquire`), so
that streams never take every thread a worker has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum

from ftproxy import runtime
from ftproxy.errors import ApiError
from ftproxy.observe import metrics
from ftproxy.settings import StreamSettings
from ftproxy.upstream import WaitUntil

KEEPALIVE_COMMENT = b": ping\n\n"
CLIENT_GONE = 499  # the status of a stream whose client left (nginx's code)


class Signal(Enum):
    """What a producer yields besides client bytes (never sent to the client)."""

    CONTENT_STARTS = "content_starts"  # right before the first chunk that carries answer content
    IDLE = "idle"  # the wait (`WaitUntil`) passed with nothing from the upstream


CONTENT_STARTS = Signal.CONTENT_STARTS
IDLE = Signal.IDLE
Producer = Iterator[bytes | Signal]


def default_max_streams(blocking_threads: int) -> int:
    """Streams a worker may hold: each holds one of Granian's blocking threads for its whole
    life, so some threads are kept free for short requests (/health, /ready, /metrics, JSON
    answers) — otherwise a burst of streams would make health checks queue behind them."""
    reserve = max(4, blocking_threads // 8)
    return max(1, blocking_threads - reserve)


@dataclass(slots=True)
class StreamOutcome:
    """How a stream ended; the request's `Call` reads it when it ends."""

    first_chunk_at: float | None = None  # time.perf_counter() when CONTENT_STARTS came through
    # complete | client_disconnected | timeout_first_token | timeout_idle | timeout_total
    # | drain_deadline
    ended: str = "complete"
    pings: int = 0


class StreamSlots:
    """One per worker: the stream slots and the stream timeouts."""

    def __init__(self, settings: StreamSettings | None = None, *, blocking_threads: int = 128) -> None:
        self.settings = settings = settings or StreamSettings()
        self.max_streams = settings.max_streams or default_max_streams(blocking_threads)
        self._slots = threading.BoundedSemaphore(self.max_streams)
        metrics.STREAM_SLOTS.set(self.max_streams)  # one processor per worker process

    def acquire(self) -> Slot:
        """A stream slot, or a 503 with Retry-After at once when all are taken."""
        if not self._slots.acquire(blocking=False):
            metrics.STREAM_REJECTIONS.labels("max_streams").inc()
            raise ApiError(
                503,
                f"ftproxy is serving its maximum of {self.max_streams} concurrent streams; retry shortly",
                code="too_many_streams",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )
        return Slot(self._slots)

    def open(self, producer: Producer, until: WaitUntil, error_event: Callable[[int, str], bytes]) -> Stream:
        """The chunks of one stream (its slot was taken with `acquire` and is the caller's).

        The producer yields client bytes, `CONTENT_STARTS` once right before the first bytes that
        carry answer content (until then the first-token timeout applies, after it the idle
        timeout), and `IDLE` whenever it waited until `until.at` with nothing from the upstream;
        the stream moves `until` before each read. Closing the producer must release the upstream.
        `error_event(status, message)` is the client's error event for a timeout.
        """
        return Stream(self.settings, producer, until, error_event)


class Slot:
    __slots__ = ("_released", "_semaphore")

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore = semaphore
        self._released = False

    def release(self) -> None:
        # Called by exactly one thread (the serving thread, or the endpoint on an early error).
        if not self._released:
            self._released = True
            self._semaphore.release()


class Stream:
    """One stream, relayed on the thread that iterates it (the WSGI server's).

    Its owner iterates it and calls `close()` when it is done or the client left, even if it
    never started iterating; the producer is closed exactly once either way, and `outcome` says
    how the stream ended.
    """

    def __init__(
        self,
        settings: StreamSettings,
        producer: Producer,
        until: WaitUntil,
        error_event: Callable[[int, str], bytes],
    ) -> None:
        self._settings = settings
        self._error_event = error_event
        self.outcome = StreamOutcome()
        self._started = self._last_sent = self._last_activity = time.perf_counter()
        self._producer = producer
        self._until = until
        self._finished = False
        self._relay = self._run()

    def __iter__(self) -> Iterator[bytes]:
        return self._relay

    def close(self) -> None:
        self._relay.close()  # runs `_run`'s clean-up if it had started
        if not self._finished:  # never started: nobody else will clean up
            self.outcome.ended = "client_disconnected"
            self._finish()

    def _wake(self) -> None:
        """Until when the producer may block on the upstream before it must report IDLE: the
        next keep-alive or the current deadline (`_deadline`'s), whichever comes first. Runs
        before every read, so it builds nothing."""
        s = self._settings
        if self.outcome.first_chunk_at is not None:
            step = self._last_activity + s.idle_timeout_s
        else:
            step = self._started + s.first_token_timeout_s
        total = self._started + s.total_timeout_s
        self._until.at = min(self._last_sent + s.keepalive_s, step, total, runtime.drain_deadline_at)

    def _run(self) -> Iterator[bytes]:
        outcome = self.outcome
        total_deadline = self._started + self._settings.total_timeout_s
        producer = self._producer
        try:
            while True:
                self._wake()
                item = next(producer, None)
                if item is None:
                    return
                now = time.perf_counter()
                if item is IDLE:
                    deadline, reason = self._deadline()
                    if now >= deadline:
                        yield from self._time_out(reason)
                        return
                    if now >= self._last_sent + self._settings.keepalive_s:
                        outcome.pings += 1
                        self._last_sent = now
                        yield KEEPALIVE_COMMENT
                    continue
                self._last_activity = now
                if item is CONTENT_STARTS:
                    # The answer itself begins: the first-token wait is over, the idle timeout
                    # applies from here (a role chunk or message_start before it does not count).
                    outcome.first_chunk_at = now
                    continue
                if now >= total_deadline or now >= runtime.drain_deadline_at:
                    yield from self._time_out("timeout_total" if now >= total_deadline else "drain_deadline")
                    return
                self._last_sent = now
                yield item
        except GeneratorExit:
            outcome.ended = "client_disconnected"
            raise
        finally:
            self._finish()

    def _time_out(self, reason: str) -> Iterator[bytes]:
        self.outcome.ended = reason
        self._producer.close()  # releases the upstream call before the client hears of it
        yield self._error_event(503 if reason == "drain_deadline" else 504, _TIMEOUT_MESSAGES[reason])

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._producer.close()

    def _deadline(self) -> tuple[float, str]:
        s = self._settings
        total = self._started + s.total_timeout_s
        if self.outcome.first_chunk_at is not None:
            step, reason = self._last_activity + s.idle_timeout_s, "timeout_idle"
        else:
            step, reason = self._started + s.first_token_timeout_s, "timeout_first_token"
        if total <= step:
            step, reason = total, "timeout_total"
        drain = runtime.drain_deadline_at
        return (drain, "drain_deadline") if drain <= step else (step, reason)


_TIMEOUT_MESSAGES = {
    "timeout_first_token": "SAP AI Core sent no answer before the first-token timeout",
    "timeout_idle": "SAP AI Core stopped sending in the middle of the answer (idle timeout)",
    "timeout_total": "the answer took longer than the total stream timeout",
    "drain_deadline": "ftproxy is shutting down and ended this stream at its drain timeout; retry",
}
