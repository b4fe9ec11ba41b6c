"""The StreamingProcessor under contention: 64 consumers at once, some hanging up mid-stream.

Invariants afterwards: every stream reported exactly one outcome, complete streams got every
chunk in order, hung-up ones were cancelled, every slot came back, and the executor did not
grow past its bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ftproxy.errors import ApiError
from ftproxy.streaming import Cancellation, StreamingProcessor, StreamOutcome, StreamSettings

pytestmark = pytest.mark.stress

THREADS = 64
CHUNKS = 50


def test_concurrent_streams_and_hang_ups_keep_every_invariant() -> None:
    processor = StreamingProcessor(StreamSettings(max_streams=THREADS, queue_chunks=4))
    barrier = threading.Barrier(THREADS)
    outcomes: list[list[StreamOutcome]] = [[] for _ in range(THREADS)]
    received: list[list[bytes]] = [[] for _ in range(THREADS)]
    cancelled = [threading.Event() for _ in range(THREADS)]
    errors: list[BaseException] = []

    def produce_for(i: int):
        def produce(cancellation: Cancellation) -> Iterator[bytes]:
            cancellation.on_cancel(cancelled[i].set)
            for n in range(CHUNKS):
                if cancellation.cancelled:
                    return
                yield b"%d:%d" % (i, n)

        return produce

    def consumer(i: int) -> None:
        try:
            barrier.wait()
            body = processor.open_stream(
                processor.acquire(), produce_for(i), cancellation=Cancellation(), on_finish=outcomes[i].append
            )
            for chunk in body:
                received[i].append(chunk)
                if i % 3 == 0 and len(received[i]) == 10:
                    break  # this client hangs up mid-stream
            body.close()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=consumer, args=(i,)) for i in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors[0]

    for i in range(THREADS):
        assert len(outcomes[i]) == 1, i
        if i % 3 == 0:
            assert outcomes[i][0].ended == "client_disconnected" and cancelled[i].is_set()
            assert received[i] == [b"%d:%d" % (i, n) for n in range(10)]
        else:
            assert outcomes[i][0].ended == "complete"
            assert received[i] == [b"%d:%d" % (i, n) for n in range(CHUNKS)]
    slots = [processor.acquire() for _ in range(THREADS)]  # every slot came back
    with pytest.raises(ApiError):
        processor.acquire()
    for slot in slots:
        slot.release()
    producer_threads = [t for t in threading.enumerate() if t.name.startswith("ftproxy-stream")]
    assert len(producer_threads) <= THREADS
    processor.shutdown()
