"""The drain deadline under forced preemption. Publishers race (in a worker: the watcher thread,
and a second watcher a respawned thread worker may start); the deadline in force must be the
earliest one published, never a later one stored over it between the compare and the store. And
however many thread workers start at once, one watcher thread is started per process."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import runtime

pytestmark = pytest.mark.stress

PUBLISHERS = 16


def test_the_earliest_published_deadline_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    for round_ in range(20):
        monkeypatch.setattr(runtime, "drain_deadline_at", math.inf)
        # Each thread publishes a later deadline after an earlier one, in a different order per round.
        deadlines = [float((i * 7 + round_) % PUBLISHERS) for i in range(PUBLISHERS)]

        with preempting(runtime):
            in_force = run_together(lambda i, d=deadlines: runtime.publish_drain_deadline(d[i]), PUBLISHERS)
        assert runtime.drain_deadline_at == min(deadlines)
        assert all(d >= min(deadlines) for d in in_force)


def test_one_watcher_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    watched: list[str] = []
    monkeypatch.setenv(runtime.DRAIN_FILE_ENV, str(tmp_path / "draining"))
    monkeypatch.setattr(runtime, "_watch", watched.append)  # the thread ends at once
    for _ in range(5):
        monkeypatch.setattr(runtime, "_watcher_started", False)
        watched.clear()
        with preempting(runtime):
            run_together(lambda i: runtime.watch_drain_deadline(), 8)
        for thread in [t for t in threading.enumerate() if t.name == "ftproxy-drain-watch"]:
            thread.join(timeout=5)  # bounded; the patched watcher returns at once
        assert watched == [str(tmp_path / "draining")]
