"""RoundRobin under forced preemption: no pick is lost or doubled, so turns stay exactly even."""

from __future__ import annotations

from collections import Counter

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import balancer
from ftproxy.balancer import RoundRobin

pytestmark = pytest.mark.stress

THREADS = 10
ITEMS = ["d1", "d2", "d3", "d4", "d5"]
PER_THREAD = 20  # THREADS x PER_THREAD is a multiple of len(ITEMS)


def test_next_distributes_exactly_evenly() -> None:
    rr = RoundRobin(ITEMS)
    with preempting(balancer):
        picks = run_together(lambda i: Counter(rr.next() for _ in range(PER_THREAD)), THREADS)
    total = sum(picks, Counter())  # type: ignore[arg-type]
    assert total == Counter(dict.fromkeys(ITEMS, THREADS * PER_THREAD // len(ITEMS)))


def test_rotations_start_exactly_evenly_and_hold_every_item_once() -> None:
    rr = RoundRobin(ITEMS)
    with preempting(balancer):
        rotations = run_together(lambda i: [rr.rotation() for _ in range(PER_THREAD)], THREADS)
    flat = [r for per_thread in rotations for r in per_thread]  # type: ignore[attr-defined]
    assert all(sorted(r) == ITEMS for r in flat)
    assert Counter(r[0] for r in flat) == Counter(dict.fromkeys(ITEMS, THREADS * PER_THREAD // len(ITEMS)))
