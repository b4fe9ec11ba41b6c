"""Graceful drain with real processes: SIGTERM to the proxy's main PID while a stream is open.

What is proven, for Granian and for Gunicorn:
- the open stream still completes with `data: [DONE]`, new connections are answered 503 (/ready)
  or refused once the drain started, and the process exits 0;
- a stream that outlives --drain-timeout is cut and the process still exits; before the cut it
  gets its API's error event (chat, messages, responses) in a complete chunked body;
- a stream whose worker is killed (kill -9) is reset at once, never left hanging;
- during --drain-delay the server still serves, /ready answers 503 and the drain file exists;
  a second SIGTERM then stops at once (exit 1), and the private drain folder is removed.

Nothing here waits on a fixed sleep: every wait polls against a deadline.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest
from processes import free_port, stop, wait_for_health

from ftproxy.demo import DEMO_KEY, write_demo_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 20.0  # bounds every wait; a passing run needs a small fraction of it
SERVERS = ["granian", "gunicorn"]


@pytest.fixture(scope="module")
def config(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_config(tmp_path_factory.mktemp("drain"), simulator, host="127.0.0.1", port=3001)


@contextmanager
def served(config: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = config.parent / f"proxy-{port}.log"
    argv = [sys.executable, "-m", "ftproxy", "serve", "--config", str(config), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen([*argv, "--threads", "8", *extra], stdout=out, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(root + "/health", process, log)
        yield process, root, log
    finally:
        stop(process)


@contextmanager
def open_stream(root: str, directive: str) -> Iterator[Iterator[str]]:
    """A streamed chat answer whose first event has arrived: the stream is open on the server."""
    body = {"model": "gpt-4.1", "stream": True, "messages": [{"role": "user", "content": f"Hi {directive}"}]}
    headers = {"Authorization": f"Bearer {DEMO_KEY}"}
    timeout = httpx.Timeout(DEADLINE_S)
    with httpx.stream(
        "POST", root + "/v1/chat/completions", json=body, headers=headers, timeout=timeout
    ) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        yield lines


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened within {DEADLINE_S}s: {what}"
        time.sleep(0.02)  # polling interval; the deadline bounds the wait


def new_connection_status(root: str) -> int | None:
    """GET /ready on a fresh connection: its status, or None when the connection is refused."""
    try:
        return httpx.get(root + "/ready", timeout=DEADLINE_S).status_code
    except httpx.ConnectError:
        return None
    except httpx.TransportError:
        return -1  # accepted, then reset while the listener closed: neither answer; poll again


def exit_status(process: subprocess.Popen[bytes]) -> int:
    return process.wait(timeout=DEADLINE_S)


def drain_file(log: Path) -> Path:
    found = re.search(r"drain file:\s+(\S+)", log.read_text())
    assert found, log.read_text()
    return Path(found.group(1))


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_the_open_stream_finish_and_refuses_new_connections(config: Path, server: str) -> None:
    # One worker: each worker process sees the drain file on its own watch's tick (every 0.2 s),
    # so with several one may still say ready just after another said draining.
    with served(config, "--server", server, "--workers", "1") as (process, root, log):
        assert new_connection_status(root) == 200  # ready before the drain
        with open_stream(root, "[[sim:tokens=20,tps=10]]") as lines:
            process.send_signal(signal.SIGTERM)
            seen: list[int | None] = []

            def refused() -> bool:
                seen.append(new_connection_status(root))
                return seen[-1] is None

            poll(refused, "new connections refused after SIGTERM")
            # Once the drain showed (first non-200), nothing was served as ready again.
            after_drain = seen[next(i for i, s in enumerate(seen) if s != 200) :]
            assert set(after_drain) <= {503, -1, None}, seen
            assert process.poll() is None, "the server must still be up, serving our stream"
            rest = list(lines)
        assert [line for line in rest if line.startswith("data:")][-1] == "data: [DONE]"
        assert exit_status(process) == 0
        assert not drain_file(log).parent.exists()


@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_outliving_the_drain_timeout_is_cut_and_the_process_exits(config: Path, server: str) -> None:
    with served(config, "--server", server, "--drain-timeout", "1") as (process, root, log):
        with open_stream(root, "[[sim:stall_after=2]]") as lines:  # never ends by itself
            process.send_signal(signal.SIGTERM)
            with pytest.raises(httpx.TransportError):
                for line in lines:
                    assert line != "data: [DONE]"
        assert exit_status(process) == 0
        assert not drain_file(log).parent.exists()


@pytest.mark.parametrize("server", SERVERS)
def test_drain_delay_keeps_serving_with_ready_503_and_a_second_sigterm_stops_at_once(
    config: Path, server: str
) -> None:
    # The delay is far longer than DEADLINE_S: only the second signal can end this run in time.
    with served(config, "--server", server, "--drain-delay", "600") as (process, root, log):
        marker = drain_file(log)
        assert not marker.exists()
        with open_stream(root, "[[sim:stall_after=2]]") as lines:
            process.send_signal(signal.SIGTERM)
            poll(marker.exists, "the drain file is created on SIGTERM")
            # Each worker's drain watch looks at the file every 0.2 s: /ready follows within that.
            answers: list[httpx.Response] = []

            def not_ready() -> bool:
                answers.append(httpx.get(root + "/ready", timeout=DEADLINE_S))
                return answers[-1].status_code != 200

            poll(not_ready, "/ready answers 503 while draining")
            assert (answers[-1].status_code, answers[-1].json()["status"]) == (503, "draining")
            assert httpx.get(root + "/health", timeout=DEADLINE_S).status_code == 200  # still serving
            process.send_signal(signal.SIGTERM)
            with pytest.raises(httpx.TransportError):
                for line in lines:
                    assert line != "data: [DONE]"
        assert exit_status(process) == 1  # stopped without draining
        assert not marker.parent.exists()


@pytest.fixture(scope="module")
def quick_keepalive_config(config: Path) -> Path:
    """The demo config with a short keep-alive: a stalled stream wakes (to ping) well within the
    short drain timeouts these tests use, as it does with the defaults (10 s vs 30 s)."""
    data = json.loads(config.read_text())
    data["streaming"] = {"keepalive_seconds": 0.2}
    path = config.parent / "config-quick-keepalive.json"
    path.write_text(json.dumps(data))
    return path


STALLED = "Hi [[sim:stall_after=2]]"  # never ends by itself
STREAMS = {
    "chat": (
        "/v1/chat/completions",
        {"Authorization": f"Bearer {DEMO_KEY}"},
        {
            "model": "gpt-4.1",
            "stream": True,
            "messages": [{"role": "user", "content": STALLED}],
        },
    ),
    "messages": (
        "/v1/messages",
        {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"},
        {
            "model": "sonnet",
            "max_tokens": 100,
            "stream": True,
            "messages": [{"role": "user", "content": STALLED}],
        },
    ),
    "responses": (
        "/v1/responses",
        {"Authorization": f"Bearer {DEMO_KEY}"},
        {"model": "gpt-4.1", "stream": True, "input": STALLED},
    ),
}


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event name or "", data) of each SSE event with data; comments (pings) are skipped."""
    events = []
    for block in text.split("\n\n"):
        fields = [line.partition(":") for line in block.splitlines() if line and not line.startswith(":")]
        data = "\n".join(value.strip() for name, _, value in fields if name == "data")
        if data:
            events.append((next((v.strip() for n, _, v in fields if n == "event"), ""), data))
    return events


@pytest.mark.parametrize("api", sorted(STREAMS))
@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_outliving_the_drain_timeout_ends_with_its_error_event(
    quick_keepalive_config: Path, server: str, api: str
) -> None:
    path, headers, body = STREAMS[api]
    with served(quick_keepalive_config, "--server", server, "--drain-timeout", "2") as (process, root, _):
        with httpx.stream("POST", root + path, json=body, headers=headers, timeout=DEADLINE_S) as r:
            assert r.status_code == 200
            chunks = r.iter_text()
            received = next(chunks)
            process.send_signal(signal.SIGTERM)
            # The whole body: httpx raises if the chunked body ends without its zero-length chunk.
            received += "".join(chunks)
        assert exit_status(process) == 0
    name, data = sse_events(received)[-1]
    error = json.loads(data)
    if api == "chat":
        assert name == "" and "shutting down" in error["error"]["message"], received
    elif api == "responses":
        assert name == "response.failed" and error["response"]["status"] == "failed", received
        assert "shutting down" in error["response"]["error"]["message"]
    else:
        assert name == "error" and error["type"] == "error", received
        assert "shutting down" in error["error"]["message"]


def holder_of(local_port: int, server_port: int) -> psutil.Process:
    """The process holding the server side of our connection (a worker, or the only process)."""
    pids = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.pid and c.laddr and c.laddr.port == server_port and c.raddr and c.raddr.port == local_port
    }
    assert len(pids) == 1, pids
    return psutil.Process(pids.pop())


@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_of_a_killed_worker_is_reset_not_left_hanging(config: Path, server: str) -> None:
    """kill -9 leaves the worker no moment to send anything: the kernel closes its sockets, so the
    client learns at once that the body is incomplete (an error, not a read timeout)."""
    path, headers, body = STREAMS["chat"]
    with (
        served(config, "--server", server) as (_, root, _),
        httpx.stream("POST", root + path, json=body, headers=headers, timeout=DEADLINE_S) as r,
    ):
        chunks = r.iter_text()
        assert next(chunks)
        local_port = r.extensions["network_stream"].get_extra_info("socket").getsockname()[1]
        holder_of(local_port, int(root.rsplit(":", 1)[1])).send_signal(signal.SIGKILL)
        with pytest.raises(httpx.TransportError) as cut:
            "".join(chunks)
        assert not isinstance(cut.value, httpx.TimeoutException), cut.value
