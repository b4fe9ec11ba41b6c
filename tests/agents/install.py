"""The pinned coding agents (versions.json), installed with npm into a cache folder outside the repo.

    python tests/agents/install.py      # what .ci/run does before the tests; prints the folder

The folder is $FTPROXY_AGENTS_CACHE, or ~/.cache/ftproxy-agents. An install is reused while its
package.json versions match the pins; anything else is installed again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSIONS_FILE = Path(__file__).with_name("versions.json")
BINARIES = {"@anthropic-ai/claude-code": "claude", "@openai/codex": "codex"}
INSTALL_TIMEOUT_S = 600


class AgentsUnavailable(RuntimeError):
    """npm is missing or the install failed (e.g. no network): the tests skip or, in CI, fail."""


def pins() -> dict[str, str]:
    data = json.loads(VERSIONS_FILE.read_text())
    return {name: version for name, version in data.items() if not name.startswith("_")}


def cache_dir() -> Path:
    configured = os.environ.get("FTPROXY_AGENTS_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ftproxy-agents"


def installed_version(folder: Path, package: str) -> str | None:
    try:
        return json.loads((folder / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install(folder: Path | None = None) -> dict[str, Path]:
    """The agents' executables by package name, installing the pinned versions when needed."""
    folder = folder or cache_dir()
    wanted = pins()
    missing = [
        f"{name}@{version}" for name, version in wanted.items() if installed_version(folder, name) != version
    ]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise AgentsUnavailable("npm is not installed (Debian: apt-get install nodejs npm)")
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            npm,
            "install",
            "--prefix",
            str(folder),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *missing,
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise AgentsUnavailable(f"npm install took over {INSTALL_TIMEOUT_S} s") from None
        if done.returncode != 0:
            raise AgentsUnavailable(f"npm install {' '.join(missing)} failed:\n{done.stderr[-2000:]}")
    binaries = {name: folder / "node_modules" / ".bin" / BINARIES[name] for name in wanted}
    for name, path in binaries.items():
        if not path.exists() or installed_version(folder, name) != wanted[name]:
            raise AgentsUnavailable(f"{name}@{wanted[name]} is not in {folder} after npm install")
    return binaries


if __name__ == "__main__":
    try:
        for package, path in install().items():
            print(f"{package}@{pins()[package]}: {path}")
    except AgentsUnavailable as exc:
        print(f"agents: {exc}", file=sys.stderr)
        sys.exit(1)
