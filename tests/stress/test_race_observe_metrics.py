"""The state ftproxy.observe.metrics owns, under forced preemption: the scrape-time collector's per-core
baseline and the cache of labelled children. (The label-set swap is in test_metrics_concurrency.py;
prometheus_client's own values are its business. Multiprocess mode is chosen once, at import,
from the environment: nothing to race on.)"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import namedtuple
from types import SimpleNamespace

import pytest
from contention import run_together
from preempt import preempting
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from ftproxy import runtime
from ftproxy.observe import metrics

pytestmark = pytest.mark.stress

THREADS = 8
SCRAPES = 4
CpuTimes = namedtuple("CpuTimes", "user idle")


class StillProcess:
    """The process facts a scrape reads, fixed (psutil.Process would serialise the scrapes on its
    own lock in oneshot(), hiding the collector's)."""

    pid = os.getpid()

    def oneshot(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def cpu_times(self) -> SimpleNamespace:
        return SimpleNamespace(user=1.0, system=1.0)

    def memory_info(self) -> SimpleNamespace:
        return SimpleNamespace(rss=1 << 20)

    def num_threads(self) -> int:
        return 1

    def num_fds(self) -> int:
        return 3

    def create_time(self) -> float:
        return 0.0


def test_scrapes_on_many_threads_measure_each_interval_once() -> None:
    """Per-core utilisation is measured from the previous scrape's reading. Reading k of the CPU
    times is total = K*k, busy = k(k+1)/2, so the interval from reading i to reading j reports
    (i+j+1)/(2K) and names its ends. With the baseline read and replaced atomically the intervals
    are (1,2), (2,3), … (N,N+1), exactly once each; two scrapes on one baseline, a baseline moved
    backwards or a negative interval (reported as 0) would change that set."""
    ticks = [0]
    tick_lock = threading.Lock()
    big = 1_000_000

    def percpu_times() -> list[CpuTimes]:
        with tick_lock:
            ticks[0] += 1
            k = ticks[0]
            return [CpuTimes(user=k * (k + 1) / 2, idle=big * k - k * (k + 1) / 2)]

    collector = metrics.RuntimeCollector(
        facts=runtime.current, process=StillProcess(), percpu_times=percpu_times
    )  # reading 1 is the first baseline

    def scrape(i: int) -> list[int]:
        ends = []
        for _ in range(SCRAPES):
            family = next(m for m in collector.collect() if m.name == "node_cpu_core_utilization_ratio")
            ends += [round(s.value * 2 * big) - 1 for s in family.samples]  # i + j of the interval
        return ends

    with preempting(metrics):
        ends = run_together(scrape, THREADS)
    n = THREADS * SCRAPES
    assert sorted(e for per_thread in ends for e in per_thread) == list(range(3, 2 * n + 2, 2))  # type: ignore[attr-defined]


# Module-level: the cache keeps the metrics it has seen alive, one test object is enough.
CHILDREN_REGISTRY = CollectorRegistry()
CHILDREN_TEST = PromCounter("race_children", "children of this test", ["kind"], registry=CHILDREN_REGISTRY)


def test_cached_children_are_one_object_per_label_set_and_lose_no_count() -> None:
    kinds = ["a", "b", "c"]

    def work(i: int) -> list[int]:
        seen = []
        for n in range(10):
            found = metrics.child(CHILDREN_TEST, kinds[(i + n) % 3])
            found.inc()
            seen.append(id(found))
        return seen

    with preempting(metrics):
        seen = run_together(work, THREADS)
    assert len({s for per_thread in seen for s in per_thread}) == 3  # type: ignore[attr-defined]
    expected = {
        k: sum((i + n) % 3 == kinds.index(k) for i in range(THREADS) for n in range(10)) for k in kinds
    }
    counted = {k: CHILDREN_REGISTRY.get_sample_value("race_children_total", {"kind": k}) for k in kinds}
    assert counted == expected
