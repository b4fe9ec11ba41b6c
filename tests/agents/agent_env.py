"""What the agents tests share: the demo's address, a throwaway HOME and working folder, a
clean environment for the agent processes, and what the proxy and the simulator saw of a run."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from processes import request_log_lines

from ftproxy.convert.model_rules import TOOLS, rules_for
from ftproxy.simulator import catalog

NOTES = "The launch code word is MARMALADE.\n"
# Families the other tests do not run, with the route each takes: "orchestration" for the models
# SAP's Orchestration Service alone serves (`deployed=False` in the simulator's catalog: no
# deployment in its listing, so none in the demo's config either). All take tools.
ROUTED = [
    ("mistralai--mistral-large-instruct", "direct"),
    ("amazon--nova-pro", "direct"),
    ("mistralai--mistral-small-instruct", "orchestration"),
    ("meta--llama3.1-70b-instruct", "orchestration"),
]
# The models the proxy refuses tools for, on every route (Perplexity, DeepSeek-R1, IBM Granite).
NO_TOOLS = [m.name for m in catalog.DEFAULT_MODELS if TOOLS in rules_for(m.name).refuses]


@dataclass(frozen=True)
class Demo:
    root: str  # http://127.0.0.1:PORT
    key: str
    simulator: str  # the simulator's base URL
    log: Path  # the proxy's log: one JSON line per request, with its model and route


@dataclass(frozen=True)
class Workspace:
    home: Path  # the agent's HOME: its settings and sessions, thrown away after the test
    cwd: Path  # its working folder, holding notes.txt
    notes: Path


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing of the caller's (no keys, no proxies), HOME in the temp folder,
    and `node` on PATH (the Codex launcher is a Node script)."""
    node = shutil.which("node")
    path = os.pathsep.join(dict.fromkeys([*([str(Path(node).parent)] if node else []), "/usr/bin", "/bin"]))
    return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb"}


@dataclass(frozen=True)
class Traffic:
    requests: tuple[dict[str, Any], ...]  # the proxy's log lines of the requests that named a model
    upstream: Counter[str]  # the simulator's requests by deployment id

    def since(self, earlier: Traffic) -> Traffic:
        """What happened between `earlier` and this."""
        old = {line["request_id"] for line in earlier.requests}
        new = tuple(line for line in self.requests if line["request_id"] not in old)
        return Traffic(new, self.upstream - earlier.upstream)

    @property
    def routes(self) -> set[tuple[str, str]]:
        """(model, route) of each request that went upstream."""
        return {(line["model"], line["route"]) for line in self.requests if "route" in line}


def traffic(demo: Demo) -> Traffic:
    """The proxy's and the simulator's records so far. The simulator counts each request as it
    arrives; the proxy's lines are written in order by one thread a moment after each request
    ends: once the line of a request made now is there, so are those of every request that
    ended before it (all of an agent's, once it exited)."""
    stats = httpx.get(demo.simulator + "/_sim/stats", timeout=10).json()
    auth = {"Authorization": f"Bearer {demo.key}"}
    marker = httpx.get(demo.root + "/v1/models", headers=auth, timeout=10).headers["x-request-id"]
    lines = request_log_lines(demo.log, [marker])
    assert marker in {line["request_id"] for line in lines}, f"no log line for {marker} in {demo.log}"
    return Traffic(tuple(line for line in lines if "model" in line), Counter(stats["requests_by_deployment"]))


def deployment(model: str, route: str) -> str:
    """The simulator's deployment that serves `model` on `route` (checked against its catalog)."""
    spec = catalog.find(model)
    assert spec is not None and spec.deployed is (route == "direct"), (model, route)
    return catalog.deployment_id(model if route == "direct" else "orchestration")
