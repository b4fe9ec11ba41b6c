"""What the agents tests share: the demo's address, a throwaway HOME and working folder, and a
clean environment for the agent processes."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

NOTES = "The launch code word is MARMALADE.\n"


@dataclass(frozen=True)
class Demo:
    root: str  # http://127.0.0.1:PORT
    key: str


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
