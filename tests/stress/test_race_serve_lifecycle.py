"""The drain state under forced preemption. `Drain.begin()` runs in the main thread's signal
handler; the drain thread waits out the delay and then reads `forced`. A second signal during
the delay must be seen by that thread as a forced stop (it then does nothing more: the handler
already stopped everything), never as the end of an ordinary delay."""

from __future__ import annotations

from pathlib import Path

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import environment
from ftproxy.serve import lifecycle
from ftproxy.serve.lifecycle import Drain

pytestmark = pytest.mark.stress

DRAINS = 6


def test_a_second_signal_during_the_delay_is_seen_as_forced(tmp_path: Path) -> None:
    drains = [Drain(tmp_path / f"draining-{i}", delay_s=600.0) for i in range(DRAINS)]

    def work(i: int) -> object:
        drain = drains[i % DRAINS]
        if i < DRAINS:  # the drain thread: wait out the delay, then decide
            drain.wait_delay()
            return drain.forced
        return [drain.begin(), drain.begin()]  # the signal handler: SIGTERM, then SIGTERM again

    with preempting(lifecycle):
        results = run_together(work, 2 * DRAINS)
    assert results[:DRAINS] == [True] * DRAINS  # the delay ended early only because of a forced stop
    assert results[DRAINS:] == [[True, False]] * DRAINS
    assert all(d.started and d.forced and d.drain_file.exists() for d in drains)


def test_thread_workers_count_earlier_restarts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Granian's thread workers call `worker_app` at once; the respawns that happened before this
    process started are counted by exactly one of them."""
    from ftproxy.observe import metrics
    from ftproxy.web import app

    monkeypatch.setenv(environment.FTPROXY_WORKER_RESTARTS, "3")
    gateway = object()
    monkeypatch.setattr(app, "from_environment", lambda: gateway)

    def crash() -> float:
        return metrics.REGISTRY.get_sample_value("ftproxy_worker_restarts_total", {"reason": "crash"}) or 0.0

    for _ in range(5):  # five fresh processes' worth of thread workers
        monkeypatch.setattr(lifecycle, "_counted_restarts", False)
        before = crash()
        with preempting(lifecycle):
            gateways = run_together(lambda i: lifecycle.worker_app(), 8)
        assert crash() - before == 3
        assert all(g is gateway for g in gateways)
