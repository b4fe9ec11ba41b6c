"""The state ftproxy.metrics owns, under forced preemption: the scrape-time collector's per-core
baseline, and the one-time switch to multiprocess mode. (The label-set swap is in
test_metrics_concurrency.py; prometheus_client's own values are its business.)"""

from __future__ import annotations

import os
import threading
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from contention import run_together
from preempt import preempting

from ftproxy import metrics, runtime

pytestmark = pytest.mark.stress

THREADS = 8
CpuTimes = namedtuple("CpuTimes", "user idle")


def test_scrapes_on_many_threads_measure_each_interval_once() -> None:
    """Each reading of the CPU times is half busy, so every interval between two readings is 0.5
    busy. A scrape that measured against a baseline newer than its own reading (two scrapes
    interleaved) would see no time pass and report 0.0."""
    ticks = [0]
    tick_lock = threading.Lock()

    def percpu_times() -> list[CpuTimes]:
        with tick_lock:
            ticks[0] += 1
            return [CpuTimes(user=float(ticks[0]), idle=float(ticks[0]))]

    collector = metrics.RuntimeCollector(
        facts=runtime.current, process=psutil.Process(os.getpid()), percpu_times=percpu_times
    )

    def scrape(i: int) -> list[float]:
        ratios = []
        for _ in range(4):
            family = next(m for m in collector.collect() if m.name == "node_cpu_core_utilization_ratio")
            ratios += [s.value for s in family.samples]
        return ratios

    with preempting(metrics):
        ratios = run_together(scrape, THREADS)
    assert {r for per_thread in ratios for r in per_thread} == {0.5}  # type: ignore[attr-defined]


def test_only_one_multiprocess_directory_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Racing calls of prepare_multiprocess with different directories: exactly one switches the
    process over, every other is told which directory won."""
    switches: list[int] = []
    monkeypatch.setattr(metrics, "_multiproc", None)
    monkeypatch.setattr(metrics, "_LABELLED", ())
    monkeypatch.setattr(metrics, "_UNLABELLED", ())
    monkeypatch.setattr(metrics, "_count_in_files", lambda: switches.append(1))
    monkeypatch.setattr(metrics, "RuntimeCollector", lambda pid_label: object())
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)

    def prepare(i: int) -> str | None:
        try:
            metrics.prepare_multiprocess(tmp_path / f"dir-{i}")
        except RuntimeError as exc:
            assert "metrics already count in" in str(exc)
            return None
        return str(tmp_path / f"dir-{i}")

    with preempting(metrics):
        winners = [w for w in run_together(prepare, THREADS) if w is not None]
    assert len(winners) == 1 and len(switches) == 1
    assert metrics.multiprocess_directory() == winners[0] == os.environ[metrics.MULTIPROC_ENV]
