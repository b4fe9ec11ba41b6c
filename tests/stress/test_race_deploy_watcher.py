"""The canary watcher's windows while the instance it scrapes is busy: each window is the
difference of two scrapes taken while request threads keep counting, and the windows must add
up to exactly what was counted between the first and the last scrape (no request counted in two
windows or in none, no window mistaken for a counter reset)."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.deploy import metrics as deploy_metrics
from ftproxy.deploy import model, reading, watcher
from ftproxy.observe import metrics

pytestmark = pytest.mark.stress

ENDPOINT = "/v1/chat/completions"
WINDOWS = 6


def deployment(tmp_path: Path) -> model.Deployment:
    def inst(name: str, role: str, port: int) -> dict[str, object]:
        return {
            "name": name,
            "role": role,
            "address": f"127.0.0.1:{port}",
            "interpreter": "/usr/bin/python3",
            "command": ["{interpreter}", "-m", "ftproxy", "serve", "--port", "{port}", "--gil", "{gil}"],
            "weight": 50,
            "control": {"backend": "process", "pid_file": str(tmp_path / f"{name}.pid")},
        }

    return reading.parse(
        {
            "instances": [inst("std-1", "standard", 3001), inst("canary", "canary", 3002)],
            "router": {
                "listen": "127.0.0.1:8080",
                "config_path": str(tmp_path / "nginx.conf"),
                "pid_file": str(tmp_path / "nginx.pid"),
            },
            "rollback": {"state_file": str(tmp_path / "state.json"), "log_file": str(tmp_path / "log")},
            "analysis": {"min_requests": 1, "failed_windows": WINDOWS + 1},
        }
    )


def test_windows_add_up_to_what_was_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary_scrapes: list[deploy_metrics.Snapshot] = []

    def scrape(inst: model.Instance) -> deploy_metrics.Snapshot:
        snapshot = deploy_metrics.parse(metrics.render(None)[0].decode())  # this process's /metrics
        if inst.name == "canary":
            canary_scrapes.append(snapshot)
        return snapshot

    monkeypatch.setattr(watcher, "_scrape", scrape)
    out = io.StringIO()
    d = deployment(tmp_path)

    counted = threading.Semaphore(0)  # one release per request the instance counted
    done = threading.Event()

    def window(seconds: float) -> None:
        while counted.acquire(blocking=False):
            pass  # forget requests counted before this window began
        for _ in range(20):  # the window lasts until at least 20 more requests were counted
            assert counted.acquire(timeout=60), "the request threads stopped before the watcher"

    def work(i: int) -> int | None:
        if i == 0:
            try:
                return watcher.watch(d, max_windows=WINDOWS, wait=window, out=out, rollback=lambda w: 1)
            finally:
                done.set()
        for n in range(10_000_000):  # the instance's request threads: until the watch ends (bounded)
            if done.is_set():
                break
            metrics.REQUEST_LATENCY.labels(ENDPOINT, "gpt").observe(0.1)
            metrics.REQUESTS.labels(ENDPOINT, "500" if n % 10 == 0 else "200").inc()
            counted.release()
        return None

    with preempting(watcher):
        results = run_together(work, 4)
    assert results[0] == 0, out.getvalue()
    lines = re.findall(
        r"^window \d+/\d+ .*?(?:canary (\d+) req|(\d+) canary requests <)", out.getvalue(), re.M
    )
    windows = [float(a or b) for a, b in lines]
    assert len(windows) == WINDOWS and len(canary_scrapes) == WINDOWS + 1
    total = deploy_metrics.delta(canary_scrapes[-1], canary_scrapes[0])
    assert all(w >= 20 for w in windows)  # every window saw traffic: the check below is not vacuous
    assert sum(windows) == deploy_metrics.stats(total, d.analysis.endpoints).requests
