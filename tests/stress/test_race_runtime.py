"""The drain deadline under forced preemption. Publishers race (in a worker: the watcher thread,
and a second watcher a respawned thread worker may start); the deadline in force must be the
earliest one published, never a later one stored over it between the compare and the store. And
however many thread workers start at once, one drain watch is started per process, and it is the
one `draining()` reads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import environment, runtime

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
    started: list[runtime.DrainWatch] = []
    monkeypatch.setenv(environment.FTPROXY_DRAIN_FILE, str(tmp_path / "draining"))
    monkeypatch.setattr(runtime.DrainWatch, "start", lambda self: started.append(self))  # no thread left
    for _ in range(5):
        monkeypatch.setattr(runtime, "_process_watch", None)
        started.clear()
        with preempting(runtime):
            run_together(lambda i: runtime.watch_drain(), 8)
        assert len(started) == 1 and started[0] is runtime._process_watch
        assert started[0].path == str(tmp_path / "draining")
