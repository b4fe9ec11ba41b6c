"""Demo mode: ftproxy in front of the built-in SAP AI Core simulator, no credentials needed.

Starts the simulator as a child process on a free loopback port, writes a service key and a
`config.json` pointing at it into a temporary folder, and accepts the client key
`sk-ftproxy-demo`. The config names no deployment: the proxy discovers the simulator's
deployments (and its orchestration deployment, which serves the models that have none) as it
would a real subaccount's, and the banner lists what that discovery found, with each route.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftproxy.simulator import catalog
from ftproxy.simulator.testing import running_simulator

DEMO_KEY = "sk-ftproxy-demo"
DEMO_CLIENT_ID = "sim-client"
DEMO_CLIENT_SECRET = "sim-secret"
DEMO_ALIASES = {
    "sonnet": "anthropic--claude-4.5-sonnet",
    "opus": "anthropic--claude-4.5-sonnet",  # no Opus deployment in the demo: the best Sonnet
    "haiku": "anthropic--claude-4.5-haiku",
    "claude-sonnet-4-5": "anthropic--claude-4.5-sonnet",
    "claude-haiku-4-5": "anthropic--claude-4.5-haiku",
}


def write_demo_config(
    folder: Path, simulator_url: str, *, host: str, port: int, discover: bool = False
) -> Path:
    """The demo's config.json in `folder`. With `discover` (what `serve --demo` runs) it names
    no deployment; without, it lists the simulator's deployments (a fixed table, which tests
    against a simulator that is not running, or that count calls, rely on)."""
    service_key = {
        "clientid": DEMO_CLIENT_ID,
        "clientsecret": DEMO_CLIENT_SECRET,
        "url": simulator_url,
        "identityzoneid": "demo-tenant",
        "serviceurls": {"AI_API_URL": simulator_url},
    }
    (folder / "demo-service-key.json").write_text(json.dumps(service_key, indent=2))
    config = {
        "subAccounts": {
            "demo": {
                "resource_group": "default",
                "service_key_json": "demo-service-key.json",
                # without deployment_models: discovered from the simulator's listing, as from AI Core
                **({} if discover else {"deployment_models": _deployments(simulator_url)}),
            }
        },
        # Claude Code's names work without these (the built-in Claude aliases); they are here to
        # show the format, and so that `sonnet`, `haiku` and `opus` are listed by /v1/models.
        "model_aliases": DEMO_ALIASES,
        "secret_authentication_tokens": [DEMO_KEY],
        "host": host,
        "port": port,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _deployments(simulator_url: str) -> dict[str, list[str]]:
    return {
        spec.name: [f"{simulator_url}/v2/inference/deployments/{dep}"]
        for dep, spec in catalog.by_deployment_id().items()
    }


@contextmanager
def demo_config(*, host: str, port: int) -> Iterator[Path]:
    """Runs the simulator for as long as the block runs and yields the generated config's path."""
    with tempfile.TemporaryDirectory(prefix="ftproxy-demo-") as folder, running_simulator() as simulator_url:
        yield write_demo_config(Path(folder), simulator_url, host=host, port=port, discover=True)


def demo_banner(config_path: Path, host: str, port: int) -> str:
    """The banner, listing the models one discovery finds with their family and route (the
    simulator runs already; the proxy's workers discover the same at their start). Discovery runs
    in a child process: this one must not load the metrics before the launcher set them up."""
    found = subprocess.run(
        [sys.executable, "-m", "ftproxy.inventory", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    models = found.stdout.splitlines() or [f"(not listed: {found.stderr.strip()[-300:]})"]
    return "\n".join(
        [
            "=" * 78,
            "DEMO MODE: no SAP AI Core credentials configured; answers come from the built-in",
            "SAP AI Core simulator (deterministic text, not a real model).",
            f"  base URL:   http://{host}:{port}/v1",
            f"  client key: {DEMO_KEY}",
            f"  config:     {config_path} (no deployment ids: discovered)",
            "  models:",
            *(f"    {line}" for line in models),
            "    (and any public Claude id, e.g. claude-sonnet-4-5-20250929)",
            "Client set-ups (Claude Code, Codex …): docs/clients.md; the simulated models, their",
            "credentials and [[sim:…]] directives (tool calls, errors): docs/simulator.md.",
            "Point ftproxy at real credentials with `ftproxy serve --config config.json` (see README).",
            "=" * 78,
        ]
    )
