"""The README's first command: `ftproxy serve --demo`, as a newcomer uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import psutil
import pytest
from processes import free_port, stop, wait_for_health

from ftproxy.demo import DEMO_KEY

pytestmark = pytest.mark.e2e

DEMO_MODELS = [
    "gpt-4.1",
    "gpt-5",
    "anthropic--claude-4.5-sonnet",
    "anthropic--claude-3.5-sonnet",
    "gemini-2.5-pro",
]


def test_demo_streams_every_family_and_stops_its_simulator(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ftproxy", "serve", "--demo", "--port", str(port), "--threads", "8"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/health", process, log)
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("ftproxy.simulator" in " ".join(c.cmdline()) for c in children)
        banner = log.read_text()
        assert "DEMO MODE" in banner and DEMO_KEY in banner and "free-threaded build" in banner
        # no deployment ids in its config: the banner lists what discovery found, with the route
        assert "no deployment ids: discovered" in banner
        listed = {line.split()[0]: line.split()[2] for line in banner.splitlines() if line.startswith("    ")}
        assert listed["gpt-4.1"] == "direct" and listed["anthropic--claude-4.5-sonnet"] == "direct"
        assert listed["meta--llama3.1-70b-instruct"] == "orchestration"  # from the AI API catalog

        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=DEMO_KEY, max_retries=0)
        served = {m.id for m in client.models.list()}
        assert {*DEMO_MODELS, "text-embedding-3-small"} <= served
        for model in DEMO_MODELS:
            stream = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hello"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text.startswith("Hello from the simulated SAP AI Core"), model
    finally:
        stop(process)
    assert process.returncode == 0, log.read_text()[-2000:]
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"demo left processes behind: {[p.pid for p in alive]}"
