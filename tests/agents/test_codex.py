"""Codex CLI, the real one (pinned in versions.json), `codex exec` headless against the demo proxy
through the Responses API, with HOME (and so ~/.codex) in a temp folder, update checks and
analytics off."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agent_env import NO_TOOLS, NOTES, ROUTED, Demo, Workspace, base_env, deployment, traffic

pytestmark = pytest.mark.agents

TIMEOUT_S = 90
CONFIG = """\
model = "{model}"
model_provider = "ftproxy"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.ftproxy]
name = "ftproxy"
base_url = "{root}/v1"
env_key = "FTPROXY_API_KEY"
wire_api = "responses"
"""


def codex(
    agents: dict[str, Path],
    demo: Demo,
    ws: Workspace,
    prompt: str,
    model: str,
    flags: tuple[str, ...] = (),
    succeeds: bool = True,
) -> list[dict[str, Any]]:
    """The JSON events of `codex exec --json` (of a completed turn, or with `succeeds=False`
    a failed one)."""
    (ws.home / ".codex").mkdir(exist_ok=True)
    (ws.home / ".codex" / "config.toml").write_text(CONFIG.format(model=model, root=demo.root))
    env = base_env(ws.home) | {"FTPROXY_API_KEY": demo.key}
    done = subprocess.run(
        [str(agents["@openai/codex"]), "exec", "--skip-git-repo-check", "--json", *flags, prompt],
        cwd=ws.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert (done.returncode == 0) is succeeds, (
        f"codex exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    )
    ending = "turn.completed" if succeeds else "turn.failed"
    assert events and events[-1]["type"] == ending, done.stdout[-3000:]
    return events


def completed(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind]


@pytest.mark.parametrize("model", ["gpt-4.1", "anthropic--claude-4.5-sonnet", "gemini-2.5-flash"])
def test_codex_answers(agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str) -> None:
    events = codex(agents, demo, workspace, "Say hello in one sentence.", model)
    (message,) = completed(events, "agent_message")
    assert model in message["text"] and message["text"].endswith(".")
    assert events[-1]["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("model", ["gpt-4.1", "anthropic--claude-4.5-sonnet"])
def test_codex_runs_a_command_and_answers_after_its_output(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str
) -> None:
    args = json.dumps({"cmd": "cat notes.txt"})
    events = codex(
        agents, demo, workspace, f"What does notes.txt say? [[sim:tool=exec_command,args={args}]]", model
    )
    items = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] != "error"]
    assert [i["type"] for i in items] == ["command_execution", "agent_message"]
    command, answer = items
    assert "cat notes.txt" in command["command"] and command["exit_code"] == 0
    assert command["aggregated_output"] == NOTES
    assert model in answer["text"]


@pytest.mark.parametrize(("model", "route"), ROUTED)
def test_codex_writes_a_file_on_any_sap_model(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str, route: str
) -> None:
    """Codex on one SAP model (Mistral, Nova, Llama; direct or only through orchestration): its
    shell tool writes a file in its workspace, the output goes back through the Responses API,
    the model answers; every request went to that model's deployment on its route."""
    target = workspace.cwd / "answer.txt"
    args = json.dumps({"cmd": f"echo written by {model} > answer.txt && cat answer.txt"})
    before = traffic(demo)
    events = codex(
        agents,
        demo,
        workspace,
        f"Write answer.txt. [[sim:tool=exec_command,args={args}]]",
        model,
        flags=("--sandbox", "workspace-write"),
    )
    run = traffic(demo).since(before)
    items = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] != "error"]
    assert [i["type"] for i in items] == ["command_execution", "agent_message"], items
    command, answer = items
    assert command["exit_code"] == 0 and command["aggregated_output"] == f"written by {model}\n"
    assert target.read_text() == f"written by {model}\n"
    assert model in answer["text"]
    assert run.routes == {(model, route)}, run.requests
    assert set(run.upstream) == {deployment(model, route)} and run.upstream.total() >= 2


@pytest.mark.parametrize("model", NO_TOOLS)
def test_codex_on_a_model_without_tools_gets_the_proxys_400(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str
) -> None:
    """Codex always declares its shell tool: for a model that takes none the proxy answers an
    OpenAI 400 naming the model and `tools` before any upstream call; the turn fails with it."""
    before = traffic(demo)
    events = codex(agents, demo, workspace, "Say hello.", model, succeeds=False)
    error = json.loads(events[-1]["error"]["message"])["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "tools"
    assert error["message"] == f"model '{model}' does not support tools; send the request without 'tools'"
    assert not traffic(demo).since(before).upstream
