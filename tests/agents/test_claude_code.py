"""Claude Code, the real one (pinned in versions.json), headless against the demo proxy.

`claude -p` with JSON output, telemetry, auto-update and all non-essential traffic off, HOME in a
temp folder; it talks to nothing but the proxy on loopback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agent_env import NO_TOOLS, NOTES, ROUTED, Demo, Workspace, base_env, deployment, traffic

pytestmark = pytest.mark.agents

TIMEOUT_S = 90


def claude(
    agents: dict[str, Path],
    demo: Demo,
    ws: Workspace,
    prompt: str,
    *,
    model: str | None = None,
    background: str | None = None,
    stream: bool = False,
    flags: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The JSON messages Claude Code printed (`json`: one result; `stream-json`: every turn).
    `background` is its small/fast model (titles, summaries: ANTHROPIC_DEFAULT_HAIKU_MODEL)."""
    env = base_env(ws.home) | {
        "ANTHROPIC_BASE_URL": demo.root,
        "ANTHROPIC_AUTH_TOKEN": demo.key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
    }
    if model is not None:
        env["ANTHROPIC_MODEL"] = model
    if background is not None:
        env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = background
    output = ["--output-format", "stream-json", "--verbose"] if stream else ["--output-format", "json"]
    done = subprocess.run(
        [str(agents["@anthropic-ai/claude-code"]), "-p", prompt, *output, *flags],
        cwd=ws.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, (
        f"claude printed no JSON (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return [json.loads(line) for line in lines]


def result(messages: list[dict[str, Any]]) -> dict[str, Any]:
    final = messages[-1]
    assert final["type"] == "result", final
    assert final["is_error"] is False and final["subtype"] == "success", json.dumps(final)[:2000]
    return final


@pytest.mark.parametrize(
    ("model", "answered_by"),
    [
        (None, "anthropic--claude-4.5-sonnet"),  # Claude Code's own default id, through the built-in aliases
        ("haiku", "anthropic--claude-4.5-haiku"),
        ("anthropic--claude-3.5-sonnet", "anthropic--claude-3.5-sonnet"),  # Bedrock invoke, native body
        ("gpt-4.1", "gpt-4.1"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
    ],
    ids=["default", "haiku-alias", "claude-invoke", "gpt", "gemini"],
)
def test_claude_code_answers(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str | None, answered_by: str
) -> None:
    final = result(claude(agents, demo, workspace, "Say hello in one sentence.", model=model))
    assert final["num_turns"] == 1
    assert answered_by in final["result"] and final["result"].endswith(".")


@pytest.mark.parametrize(
    "model", ["anthropic--claude-4.5-sonnet", "anthropic--claude-3.5-sonnet", "gpt-4.1", "gemini-2.5-pro"]
)
def test_claude_code_reads_a_file_and_answers_after_the_result(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str
) -> None:
    args = json.dumps({"file_path": str(workspace.notes)})
    prompt = f"What does notes.txt say? [[sim:tool=Read,args={args}]]"
    messages = claude(agents, demo, workspace, prompt, model=model, stream=True)
    kinds: list[str] = []
    for message in messages:
        if message["type"] not in ("assistant", "user"):
            continue
        for block in message["message"]["content"]:
            if block.get("type") == "tool_use":
                assert block["name"] == "Read" and block["input"] == {"file_path": str(workspace.notes)}
                kinds.append("call")
            elif block.get("type") == "tool_result":
                content = block["content"]
                text = content if isinstance(content, str) else json.dumps(content)
                assert NOTES.strip() in text and not block.get("is_error"), text
                kinds.append("result")
            elif block.get("type") == "text" and message["type"] == "assistant":
                kinds.append("text")
    assert kinds == ["call", "result", "text"]
    final = result(messages)
    assert final["num_turns"] == 2 and model in final["result"]


@pytest.mark.parametrize(("model", "route"), ROUTED)
def test_claude_code_writes_a_file_on_any_sap_model(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str, route: str
) -> None:
    """Claude Code's main and background model both one SAP model (Mistral, Nova, Llama; direct
    or only through orchestration): its Write tool runs (the file is there), the tool result
    goes back, and every request it made went to that model's deployment on its route."""
    target = workspace.cwd / "answer.txt"
    args = json.dumps({"file_path": str(target), "content": f"written by {model}\n"})
    before = traffic(demo)
    messages = claude(
        agents,
        demo,
        workspace,
        f"Write answer.txt. [[sim:tool=Write,args={args}]]",
        model=model,
        background=model,
        stream=True,
        flags=("--permission-mode", "acceptEdits"),
    )
    run = traffic(demo).since(before)
    final = result(messages)
    assert final["num_turns"] == 2 and model in final["result"]
    assert target.read_text() == f"written by {model}\n"
    results = [
        block
        for message in messages
        if message["type"] == "user"
        for block in message["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert len(results) == 1 and not results[0].get("is_error"), results
    assert run.routes == {(model, route)}, run.requests
    assert set(run.upstream) == {deployment(model, route)} and run.upstream.total() >= 2


@pytest.mark.parametrize("model", NO_TOOLS)
def test_claude_code_on_a_model_without_tools_gets_the_proxys_400(
    agents: dict[str, Path], demo: Demo, workspace: Workspace, model: str
) -> None:
    """Claude Code always declares its tools: for a model that takes none the proxy answers a
    400 naming the model and `tools` before any upstream call, and Claude Code shows it."""
    before = traffic(demo)
    (final,) = claude(agents, demo, workspace, "Say hello.", model=model, background=model)
    assert final["is_error"] is True and final["api_error_status"] == 400, final
    assert f"model '{model}' does not support tools" in final["result"]
    assert not traffic(demo).since(before).upstream
