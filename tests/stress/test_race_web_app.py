"""The gateway factory under forced preemption: Granian's thread workers (free-threaded build)
call it at once, and exactly one gateway is built and shared."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import environment
from ftproxy.demo import write_demo_config
from ftproxy.web import app

pytestmark = pytest.mark.stress

THREADS = 8


def test_thread_workers_share_one_gateway_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_demo_config(tmp_path, "http://127.0.0.1:9", host="127.0.0.1", port=3001)
    monkeypatch.setenv(environment.FTPROXY_CONFIG, str(config))
    monkeypatch.setattr(app, "_process_gateway", None)
    built: list[object] = []
    count_lock = threading.Lock()
    real_create = app.create_app

    def create(c: object, **options: int) -> app.Gateway:
        with count_lock:
            built.append(c)
        return real_create(c, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "create_app", create)
    with preempting(app):
        gateways = run_together(lambda i: app.from_environment(), THREADS)
    assert len(built) == 1 and len({id(g) for g in gateways}) == 1
    assert app.from_environment() is gateways[0]
