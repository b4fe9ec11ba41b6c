"""Error kinds name what happened (issue 13): a token endpoint that refuses ftproxy is not an
unreachable upstream, and a /ready 503 is not an overload. In process, the demo configuration
pointing at a dead loopback port: every token fetch fails at once."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wsgi_call import gateway_on_dead_upstream

from ftproxy import environment, runtime
from ftproxy.demo import DEMO_KEY
from ftproxy.observe.exchange import error_kind
from ftproxy.observe.logs import ACCESS_LOG
from ftproxy.proxy import Call
from ftproxy.web.app import Gateway


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_on_dead_upstream(tmp_path_factory.mktemp("kinds")) as gateway:
        yield gateway


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    lines: list[dict[str, Any]] = []
    saved = ACCESS_LOG.enabled
    ACCESS_LOG.enabled, ACCESS_LOG.write = True, lines.append  # type: ignore[method-assign]
    yield lines
    del ACCESS_LOG.write
    ACCESS_LOG.enabled = saved


def call(app: Gateway, method: str, path: str, body: bytes = b"") -> int:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {DEMO_KEY}",
    }
    seen: list[int] = []
    b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(int(status[:3]))))
    return seen[0]


def test_a_failing_token_fetch_is_upstream_auth_failed(app: Gateway, logged: list[dict[str, Any]]) -> None:
    body = json.dumps({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}).encode()
    assert call(app, "POST", "/v1/chat/completions", body) == 502
    assert logged[-1]["error"] == "upstream_auth_failed"


def test_ready_503s_are_not_ready_or_draining(
    app: Gateway, logged: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert call(app, "GET", "/ready") == 503
    assert logged[-1]["error"] == "not_ready"
    drain_file = tmp_path / "draining"
    drain_file.touch()
    watch = runtime.DrainWatch(str(drain_file))
    watch.look()
    monkeypatch.setattr(runtime, "_process_watch", watch)
    assert call(app, "GET", "/ready") == 503
    assert logged[-1]["error"] == "draining"


class Counting:
    """Counts the calls of a function while still calling it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)


@pytest.mark.parametrize("drain_file_exists", [False, True])
def test_ready_and_health_read_state_only(
    app: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drain_file_exists: bool
) -> None:
    """No stat(), no environment lookup per probe: the drain file is the watch thread's to look
    at, and the interpreter's facts that cannot change are read once."""
    drain_file = tmp_path / "draining"
    if drain_file_exists:
        drain_file.touch()
    watch = runtime.DrainWatch(str(drain_file))
    watch.look()
    monkeypatch.setattr(runtime, "_process_watch", watch)
    monkeypatch.setenv(environment.FTPROXY_DRAIN_FILE, str(drain_file))
    counters = {name: Counting(getattr(os, name)) for name in ("stat", "lstat")}
    for name, counter in counters.items():
        monkeypatch.setattr(os, name, counter)
    environ_get = Counting(os.environ.get)
    monkeypatch.setattr(os.environ, "get", environ_get)
    for _ in range(10):
        assert call(app, "GET", "/ready") == 503
        assert call(app, "GET", "/health") == 200
    assert {name: c.calls for name, c in counters.items()} == {"stat": 0, "lstat": 0}
    assert environ_get.calls == 0


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (503, "too_many_requests", "overloaded"),
        (503, "too_many_streams", "overloaded"),
        (503, "circuit_open", "circuit_open"),
        (503, None, "unavailable"),
        (429, "rate_limit_exceeded", "rate_limited"),
        (502, None, "upstream_unreachable"),
        (400, None, "bad_request"),
    ],
)
def test_kinds_by_code_then_by_status(status: int, code: str | None, kind: str) -> None:
    call = Call("id", "POST", "/v1/chat/completions", "/v1/chat/completions")
    call.status, call.error_code = status, code
    assert error_kind(call) == kind
