"""The preemption harness itself: it must turn an unlocked read-modify-write into lost updates on
every interpreter (GIL or not), and leave locked code correct. If the harness ever stops forcing
switches, these fail instead of the race suite passing vacuously."""

from __future__ import annotations

import sys

import pytest
import racy_sample
from contention import run_together
from preempt import preempting

pytestmark = pytest.mark.stress

BACKENDS = ["settrace", *(["monitoring"] if hasattr(sys, "monitoring") else [])]
THREADS, TIMES = 8, 100


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("granularity", ["instruction", "line"])
def test_an_unlocked_check_then_act_is_caught(backend: str, granularity: str) -> None:
    counter = racy_sample.Counter(locked=False)
    seen: set[int] = set()
    with preempting(racy_sample, granularity=granularity, backend=backend):  # type: ignore[arg-type]
        run_together(lambda i: [counter.check_then_act(seen) for _ in range(TIMES)], THREADS)
    assert counter.value < THREADS * TIMES  # two threads read the same value: updates were lost


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unlocked_increment_is_caught_at_instruction_level(backend: str) -> None:
    counter = racy_sample.Counter(locked=False)
    with preempting(racy_sample, backend=backend):
        run_together(lambda i: [counter.add() for _ in range(TIMES)], THREADS)
    assert counter.value < THREADS * TIMES  # `+=` was split between its load and its store


@pytest.mark.parametrize("backend", BACKENDS)
def test_locked_code_stays_correct_and_the_harness_uninstalls(backend: str) -> None:
    counter = racy_sample.Counter(locked=True)
    seen: set[int] = set()
    with preempting(racy_sample, backend=backend):
        run_together(lambda i: [(counter.add(), counter.check_then_act(seen)) for _ in range(TIMES)], THREADS)
    assert counter.value == 2 * THREADS * TIMES
    assert len(seen) == THREADS * TIMES  # every claim saw a distinct value
    assert sys.gettrace() is None
    if hasattr(sys, "monitoring"):
        assert all(sys.monitoring.get_tool(t) != "ftproxy-preempt" for t in range(6))
