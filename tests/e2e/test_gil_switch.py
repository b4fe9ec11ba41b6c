"""The GIL switch from outside: Gunicorn really serves the app, and `serve --dry-run` / `info` say
what `serve` would choose on this interpreter and on a free-threaded 3.14t."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest
from processes import free_port, running_proxy, stop, wait_for_health

from ftproxy import runtime
from ftproxy.demo import DEMO_KEY, write_demo_config

pytestmark = pytest.mark.e2e

MESSAGES = [{"role": "user", "content": "Say hello to the gateway."}]


def ftproxy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftproxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def config(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_config(tmp_path_factory.mktemp("gil-switch"), simulator, host="127.0.0.1", port=3001)


@pytest.fixture(scope="module")
def gunicorn_proxy(config: Path) -> Iterator[tuple[str, Path]]:
    with running_proxy(config, config.parent, "--server", "gunicorn", "--workers", "2") as (root, log):
        yield root, log


def test_gunicorn_serves_health_json_and_streams_to_the_openai_sdk(gunicorn_proxy: tuple[str, Path]) -> None:
    root, log = gunicorn_proxy
    assert "serving with:        Gunicorn gthread, process workers: 2 x 32 threads" in log.read_text()
    health = httpx.get(root + "/health").json()
    assert health["status"] == "ok" and health["gil_enabled"] is runtime.is_gil_enabled()

    client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
    whole = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert whole.choices[0].message.content and whole.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        whole.choices[0].message.content
    )
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    # Two worker processes: the launcher made their metrics count in shared files.
    assert httpx.get(root + "/metrics").status_code == 200


def test_a_gunicorn_worker_leaving_does_not_stop_the_demo_simulator(tmp_path: Path) -> None:
    """Gunicorn forks its workers deep inside `ftproxy serve --demo`; a worker that exits must not
    unwind through the demo's clean-up (which stops the simulator and deletes the config)."""
    port = free_port()
    log = tmp_path / "demo.log"
    argv = [sys.executable, "-m", "ftproxy", "serve", "--demo", "--server", "gunicorn", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--workers", "1", "--threads", "4"], stdout=out, stderr=subprocess.STDOUT
        )
    root = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(root + "/health", process, log)

        def children() -> tuple[set[int], set[int]]:
            kids = {}
            for kid in psutil.Process(process.pid).children():
                try:  # a worker that left is a zombie until Gunicorn reaps it: not a child any more
                    if kid.status() != psutil.STATUS_ZOMBIE:
                        kids[kid.pid] = kid.cmdline()
                except (psutil.ZombieProcess, psutil.NoSuchProcess):
                    continue
            simulators = {pid for pid, argv in kids.items() if "ftproxy.simulator" in argv}
            return simulators, set(kids) - simulators

        simulators, workers = children()
        assert len(simulators) == 1 and len(workers) == 1
        os.kill(workers.pop(), signal.SIGTERM)  # the worker leaves; Gunicorn starts another

        def replaced_and_serving() -> bool:
            try:  # a connection the leaving worker had accepted may be reset: poll again
                return bool(children()[1] - workers) and httpx.get(root + "/health").status_code == 200
            except httpx.TransportError:
                return False

        deadline = time.monotonic() + 20
        while not replaced_and_serving():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)  # polling interval; the deadline bounds the wait
        assert children()[0] == simulators
        answer = openai.OpenAI(
            base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0
        ).chat.completions.create(model="gpt-4.1", messages=MESSAGES)
        assert answer.choices[0].message.content
    finally:
        stop(process)
    assert process.returncode == 0


def expected_here() -> str:
    if not runtime.is_free_threaded_build():
        return "Granian WSGI, process workers"
    return "Gunicorn gthread" if runtime.is_gil_enabled() else "Granian WSGI, thread workers in one process"


def test_dry_run_says_what_serve_would_do_and_serves_nothing(config: Path) -> None:
    done = ftproxy("serve", "--config", str(config), "--dry-run", "--workers", "3")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("ftproxy serve --dry-run: would listen on http://127.0.0.1:3001")
    # Threads left open are sized to the workers: 512 in all at least, 128 per worker at least.
    assert f"serving with:        {expected_here()}: 3 x 171 threads" in out
    build = "yes" if runtime.is_free_threaded_build() else "no"
    assert f"free-threaded build: {build}" in out and "GIL enabled now:" in out and "why:" in out


@pytest.mark.skipif(runtime.is_free_threaded_build(), reason="PYTHON_GIL=1 changes the choice on 3.14t")
def test_dry_run_honours_python_gil_and_explains_it_on_a_gil_build(config: Path) -> None:
    done = ftproxy("serve", "--config", str(config), "--dry-run", PYTHON_GIL="1")
    assert done.returncode == 0, done.stderr
    assert "GIL requested by:    PYTHON_GIL=1" in done.stdout
    assert "Granian WSGI, process workers" in done.stdout


@pytest.mark.skipif(runtime.is_free_threaded_build(), reason="a GIL build's refusal")
def test_gil_off_on_a_gil_build_is_refused_with_the_way_out(config: Path) -> None:
    done = ftproxy("serve", "--config", str(config), "--gil", "off", "--dry-run")
    assert done.returncode == 3
    assert "--gil off needs a free-threaded Python build" in done.stderr and "--gil auto" in done.stderr


def test_info_states_the_choice_here_and_on_a_free_threaded_build() -> None:
    done = ftproxy("info")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == runtime.current().describe()
    cores = len(os.sched_getaffinity(0))
    assert lines[1].startswith(f"usable cores: {cores}; defaults sized to them: {cores} worker(s) x ")

    def answer(label: str) -> str:
        return next(line for line in lines if line.strip().startswith(label + ":"))

    assert expected_here() in answer("this interpreter")
    assert "Granian WSGI, thread workers in one process" in answer("python3.14t, GIL off")
    with_env = answer("python3.14t, PYTHON_GIL=1")
    assert "Gunicorn gthread, process workers" in with_env and "refuses to start with the GIL on" in with_env
