"""The rollout state file (JSON, replaced atomically) and the append-only rollback log.

    {"instances": {"canary-1": {"routed": false, "mode": "gil", "changed_at": "...", "pid": 123}},
     "last_rollback": {"started_at": ..., "finished_at": ..., "ok": true, "steps": [...]},
     "last_promote": {...}}

`routed` false renders the instance `down` in nginx (no new requests); `mode` "gil" means it was
restarted with the GIL on (PYTHON_GIL=1, --gil on). An instance absent from the file is routed,
in normal mode.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Same folder temp file, fsync, rename: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"instances": {}}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise RuntimeError(
                    f"state file {path} is unreadable ({exc}); move it away to start over"
                ) from exc
            self.data.setdefault("instances", {})

    def instance(self, name: str) -> dict[str, Any]:
        return {"routed": True, "mode": "normal", **self.data["instances"].get(name, {})}

    def routed(self, name: str) -> bool:
        return bool(self.instance(name)["routed"])

    def mode(self, name: str) -> str:
        return str(self.instance(name)["mode"])

    def update_instance(self, name: str, **values: Any) -> None:
        entry = self.data["instances"].setdefault(name, {})
        entry.update(values, changed_at=now_iso())

    def save(self) -> None:
        write_atomically(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


def append_log(path: Path, record: dict[str, Any]) -> None:
    """One JSON line per event; appended with a single write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a") as f:
        f.write(line)
