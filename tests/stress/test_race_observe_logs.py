"""The request log writer under forced preemption: however many request threads call start() at
once, one writer thread serves the queue; every line from every thread is written exactly once,
whole, and flush() stops the writer."""

from __future__ import annotations

import json
import threading

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.observe import logs
from ftproxy.observe.logs import AccessLog

pytestmark = pytest.mark.stress

THREADS = 10
LINES = 15


class Sink:
    """A text stream (no .buffer): what the writer wrote, write by write."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ftproxy-access-log"]


def test_one_writer_and_every_line_once() -> None:
    sink = Sink()
    log = AccessLog(stream=lambda: sink)
    before = set(writers())

    def request_thread(i: int) -> None:
        log.start()  # e.g. every thread worker building its app at once
        for n in range(LINES):
            log.write({"thread": i, "n": n, "path": "/v1/chat/completions"})

    with preempting(logs):
        run_together(request_thread, THREADS)
        started = [t for t in writers() if t not in before]
        log.flush(timeout=60)
    assert len(started) == 1 and not started[0].is_alive()
    text = "".join(sink.writes)
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]  # whole lines only: each one parses
    assert sorted((r["thread"], r["n"]) for r in lines) == [
        (i, n) for i in range(THREADS) for n in range(LINES)
    ]
