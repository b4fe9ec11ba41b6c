"""Stream slots under forced preemption: never more open streams than `max_streams`, every
refusal is a 503, every stream (complete or hung up mid-way) ends exactly once with its producer
closed and its slot back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import streaming
from ftproxy.errors import ApiError
from ftproxy.streaming import StreamOutcome, StreamSettings, StreamSlots
from ftproxy.upstream import WaitUntil

pytestmark = pytest.mark.stress

THREADS = 10
MAX_STREAMS = 3
CHUNKS = 6


def test_slots_bound_open_streams_and_all_come_back() -> None:
    processor = StreamSlots(StreamSettings(max_streams=MAX_STREAMS))
    open_now = [0]
    most = [0]
    count_lock = threading.Lock()

    def produce(i: int, closed: list[bool]) -> Iterator[bytes]:
        with count_lock:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
        try:
            for n in range(CHUNKS):
                yield b"%d:%d\n" % (i, n)
        finally:
            with count_lock:
                open_now[0] -= 1
            closed.append(True)

    def client(i: int) -> tuple[int, int, list[str]]:
        served = refused = 0
        problems: list[str] = []
        for attempt in range(4):
            try:
                slot = processor.acquire()
            except ApiError as exc:
                assert exc.status == 503
                refused += 1
                continue
            outcomes: list[StreamOutcome] = []
            closed: list[bool] = []
            body = processor.open(produce(i, closed), WaitUntil(), lambda s, m: b"error")
            got = []
            hang_up = (i + attempt) % 3 == 0
            try:
                for chunk in body:
                    got.append(chunk)
                    if hang_up and len(got) == 2:
                        break  # this client goes away mid-stream
            finally:
                body.close()  # what the request's Call does at its end: stream closed, slot back
                slot.release()
                outcomes.append(body.outcome)
            expected = "client_disconnected" if hang_up else "complete"
            if [o.ended for o in outcomes] != [expected] or closed != [True]:
                problems.append(f"stream {i}/{attempt}: {outcomes} closed={closed}")
            if got != [b"%d:%d\n" % (i, n) for n in range(2 if hang_up else CHUNKS)]:
                problems.append(f"stream {i}/{attempt}: chunks {got}")
            served += 1
        return served, refused, problems

    with preempting(streaming):
        results = run_together(client, THREADS)
    assert [p for r in results for p in r[2]] == []  # type: ignore[index]
    assert most[0] <= MAX_STREAMS and sum(r[0] for r in results) > 0  # type: ignore[index]
    assert sum(r[0] + r[1] for r in results) == THREADS * 4  # type: ignore[index]
    slots = [processor.acquire() for _ in range(MAX_STREAMS)]  # every slot came back ...
    with pytest.raises(ApiError):
        processor.acquire()  # ... and there are still only MAX_STREAMS of them
    for slot in slots:
        slot.release()
