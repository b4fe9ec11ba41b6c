"""Start many threads at the same instant and collect what each returned."""

from __future__ import annotations

import threading
from collections.abc import Callable

THREADS = 64


def run_together(work: Callable[[int], object], threads: int = THREADS) -> list[object]:
    """Starts all threads at once (a barrier), returns their results; re-raises any failure."""
    barrier = threading.Barrier(threads)
    results: list[object] = [None] * threads
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results
