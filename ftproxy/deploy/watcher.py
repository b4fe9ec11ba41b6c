"""Automatic canary analysis (Flagger-style): compare the canary with the standard instances over
fixed windows and roll back after `analysis.failed_windows` bad windows in a row.

Each window is the difference of two scrapes of every instance's /metrics, `window_seconds`
apart: requests and 5xx answers on the analysed endpoints (`ftproxy_requests_total`), and the
p99 of `ftproxy_request_duration_seconds` (histogram buckets, as `histogram_quantile`). The
standard instances are added up. A window is bad when the canary's 5xx rate is above
`max_error_rate`, or above the standard rate + `max_error_rate_increase`, or its p99 is above
the standard p99 x `max_p99_ratio` (or `max_p99_seconds`), or its /metrics cannot be read. A
window with fewer than `min_requests` canary requests gives no verdict (and does not reset the
count); a good window resets it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import httpx

from ftproxy.deploy import metrics, operations
from ftproxy.deploy.model import Analysis, Deployment, Instance
from ftproxy.deploy.state import State


@dataclass(frozen=True)
class Verdict:
    bad: bool | None  # None: not enough data
    text: str


def judge(
    analysis: Analysis, canary: metrics.WindowStats | None, standard: metrics.WindowStats | None
) -> Verdict:
    if canary is None:
        return Verdict(True, "canary /metrics unreachable")
    if canary.requests < analysis.min_requests:
        return Verdict(None, f"{canary.requests:.0f} canary requests < min_requests {analysis.min_requests}")
    reasons = []
    base_rate = standard.error_rate if standard and standard.requests else 0.0
    if canary.error_rate > analysis.max_error_rate:
        reasons.append(f"error rate {canary.error_rate:.1%} > max {analysis.max_error_rate:.1%}")
    elif canary.error_rate > base_rate + analysis.max_error_rate_increase:
        increase = analysis.max_error_rate_increase
        reasons.append(f"error rate {canary.error_rate:.1%} > standard {base_rate:.1%} + {increase:.1%}")
    if canary.p99 is not None:
        if analysis.max_p99_seconds is not None and canary.p99 > analysis.max_p99_seconds:
            reasons.append(f"p99 {canary.p99:.3f} s > max {analysis.max_p99_seconds:g} s")
        elif standard and standard.p99 and canary.p99 > standard.p99 * analysis.max_p99_ratio:
            reasons.append(
                f"p99 {canary.p99:.3f} s > standard {standard.p99:.3f} s x {analysis.max_p99_ratio:g}"
            )
    p99 = "-" if canary.p99 is None else f"{canary.p99:.3f}s"
    std = (
        "-"
        if not standard
        else f"{standard.requests:.0f} req, {standard.error_rate:.1%} 5xx, p99 "
        + ("-" if standard.p99 is None else f"{standard.p99:.3f}s")
    )
    facts = f"canary {canary.requests:.0f} req, {canary.error_rate:.1%} 5xx, p99 {p99}; standard {std}"
    return Verdict(bool(reasons), ("BAD: " + "; ".join(reasons) + " — " if reasons else "ok — ") + facts)


def _scrape(inst: Instance) -> metrics.Snapshot | None:
    try:
        return metrics.scrape(inst.metrics_url)
    except httpx.HTTPError:
        return None


def watch(
    deployment: Deployment,
    *,
    window_seconds: float | None = None,
    max_windows: int = 10,
    failed_windows: int | None = None,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    wait: Callable[[float], object] | None = None,
    rollback: Callable[[str], int] | None = None,
) -> int:
    """Returns 0 (canary passed, or rolled back successfully), 1 (the rollback failed)."""
    analysis = deployment.analysis
    window = window_seconds or analysis.window_seconds
    needed = failed_windows or analysis.failed_windows
    wait = wait or threading.Event().wait  # the window itself: a bounded wait, not synchronisation
    canaries = deployment.canaries
    state = State(deployment.rollback.state_file)
    live = [c for c in canaries if state.routed(c.name)]
    if not live:
        print(
            "watch: no canary takes traffic (none declared, or already rolled back): nothing to watch",
            file=out,
        )
        return 0

    def scrape_all() -> dict[str, metrics.Snapshot | None]:
        return {i.name: _scrape(i) for i in deployment.instances}

    print(
        f"watch: {', '.join(c.name for c in live)} vs {len(deployment.standard)} standard instance(s), "
        f"{max_windows} window(s) of {window:g} s, rollback after {needed} bad window(s) in a row"
        f"{' (dry run: report only)' if dry_run else ''}",
        file=out,
        flush=True,
    )
    before = scrape_all()
    bad_in_a_row = 0
    for n in range(1, max_windows + 1):
        started = time.monotonic()
        wait(window)
        after = scrape_all()
        std_windows = [
            metrics.delta(after[i.name], before[i.name])  # type: ignore[arg-type]
            for i in deployment.standard
            if after[i.name] is not None and before[i.name] is not None
        ]
        standard = metrics.stats(metrics.add(std_windows), analysis.endpoints) if std_windows else None
        can_windows = [after[c.name] for c in live]
        if any(s is None for s in can_windows):
            canary = None
        else:
            deltas = [
                metrics.delta(after[c.name], before[c.name] or metrics.Snapshot())  # type: ignore[arg-type]
                for c in live
            ]
            canary = metrics.stats(metrics.add(deltas), analysis.endpoints)
        verdict = judge(analysis, canary, standard)
        if verdict.bad:
            bad_in_a_row += 1
        elif verdict.bad is False:
            bad_in_a_row = 0
        print(
            f"window {n}/{max_windows} ({time.monotonic() - started:.1f} s): {verdict.text} "
            f"[bad in a row: {bad_in_a_row}/{needed}]",
            file=out,
            flush=True,
        )
        before = after
        if bad_in_a_row >= needed:
            reason = f"canary analysis: {needed} bad window(s) in a row; last: {verdict.text}"
            if dry_run:
                print(f"watch: would roll back now ({reason})", file=out, flush=True)
                return 0
            print("watch: threshold crossed, rolling back", file=out, flush=True)
            code = (rollback or (lambda why: operations.rollback(deployment, reason=why, out=out)))(reason)
            return 0 if code == 0 else 1
    print("watch: the canary passed every window", file=out, flush=True)
    return 0
