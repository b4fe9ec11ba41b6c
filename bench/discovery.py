"""Which interpreters to benchmark, and how each one is run (its *variants*).

Discovery looks for a free-threaded `python3.14t` first (the point of the project), then GIL
builds by name on PATH and under pyenv's versions directory, plus anything given with
`--python`. Every candidate is probed by running it, not guessed from its name, and duplicates
(symlinks, the venv's own interpreter) collapse by real path. A free-threaded build is run twice:
with the GIL off, and with `PYTHON_GIL=1` through `ftproxy serve --gil on` (the rollback switch,
which the launcher serves with Gunicorn). When no free-threaded build exists the report says so
and compares what there is.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field

MIN_VERSION = (3, 11)
# Names looked up on PATH, best first. The free-threaded ones lead.
_NAMES = (
    "python3.15t",
    "python3.14t",
    "python3.13t",
    "python3.15",
    "python3.14",
    "python3.13",
    "python3.12",
    "python3.11",
    "python3",
)

_PROBE = r"""
import json, os, platform, sys, sysconfig
print(json.dumps({
    "version": platform.python_version(),
    "version_info": list(sys.version_info[:2]),
    "implementation": sys.implementation.name,
    "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "gil_enabled": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
    "real_path": os.path.realpath(sys.executable),
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "compiler": platform.python_compiler(),
    "build": " ".join(platform.python_build()),
    "config_args": sysconfig.get_config_var("CONFIG_ARGS") or "",
    "debug_build": bool(sysconfig.get_config_var("Py_DEBUG")),
}))
"""


@dataclass(frozen=True)
class Interpreter:
    """A probed base interpreter (never a venv: venvs are built from it by `bench.venvs`)."""

    path: str  # how it was found (a name on PATH, a pyenv path, a --python argument)
    real_path: str
    version: str
    implementation: str
    free_threaded_build: bool
    compiler: str
    build: str
    config_args: str
    debug_build: bool
    found_by: str

    @property
    def key(self) -> str:
        """Short, stable id used in results: e.g. "3.13" or "3.14t"."""
        minor = ".".join(self.version.split(".")[:2])
        return minor + ("t" if self.free_threaded_build else "")

    def variants(self) -> list[Variant]:
        if self.free_threaded_build:
            return [Variant(self, "nogil", "off", {}), Variant(self, "gil", "on", {"PYTHON_GIL": "1"})]
        return [Variant(self, "gil", "auto", {})]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "key": self.key}


@dataclass(frozen=True)
class Variant:
    """One way of running an interpreter: its GIL state and how it is asked for."""

    interpreter: Interpreter
    name: str  # "gil" or "nogil"
    gil_flag: str  # `ftproxy serve --gil` value
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.interpreter.key}-{self.name}"

    @property
    def label(self) -> str:
        i = self.interpreter
        if not i.free_threaded_build:
            return f"CPython {i.version} (GIL build)"
        state = "GIL off" if self.name == "nogil" else "PYTHON_GIL=1"
        return f"CPython {i.version} free-threaded, {state}"


def probe(path: str, found_by: str) -> Interpreter | None:
    """Runs the candidate; None when it is not a working CPython >= 3.11."""
    try:
        out = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=20, check=True)
        facts = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if facts["implementation"] != "cpython" or tuple(facts["version_info"]) < MIN_VERSION:
        return None
    # A venv's python resolves to its base interpreter's binary: use that, so the harness builds
    # its own venv from the base instead of from someone else's environment.
    return Interpreter(
        path=path,
        real_path=facts["real_path"],
        version=facts["version"],
        implementation="CPython",
        free_threaded_build=facts["free_threaded_build"],
        compiler=facts["compiler"],
        build=facts["build"],
        config_args=facts["config_args"],
        debug_build=facts["debug_build"],
        found_by=found_by,
    )


def candidates(extra: list[str]) -> list[tuple[str, str]]:
    """(path, how it was found), --python first, then PATH names, then pyenv versions."""
    found: list[tuple[str, str]] = [(p, "--python") for p in extra]
    for name in _NAMES:
        where = shutil.which(name)
        if where:
            found.append((where, f"PATH ({name})"))
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3*"))):
        if re.fullmatch(r"python3\.\d+t?", os.path.basename(path)):
            found.append((path, "pyenv"))
    return found


def discover(extra: list[str], *, only_given: bool = False) -> tuple[list[Interpreter], list[str]]:
    """The interpreters to benchmark (newest first, free-threaded before GIL) and notes on what was
    looked for and not found."""
    notes: list[str] = []
    seen: dict[str, Interpreter] = {}
    for path, how in candidates(extra) if not only_given else [(p, "--python") for p in extra]:
        interp = probe(path, how)
        if interp is None:
            if how == "--python":
                notes.append(f"--python {path}: not a working CPython >= 3.11; skipped")
            continue
        seen.setdefault(interp.real_path, interp)
    # One interpreter per (version, build): pyenv and PATH often hold the same one twice.
    by_key: dict[str, Interpreter] = {}
    for interp in seen.values():
        by_key.setdefault(interp.key, interp)
    found = sorted(by_key.values(), key=lambda i: (i.free_threaded_build, _version_tuple(i)), reverse=True)
    if not any(i.free_threaded_build for i in found):
        notes.append(
            "no free-threaded interpreter (python3.14t) was found on this machine: the no-GIL and "
            "PYTHON_GIL=1 columns are absent and the free-threading criteria cannot be evaluated; "
            "the GIL builds and server modes found are still compared"
        )
    return found, notes


def choose_quick(found: list[Interpreter], current_real_path: str) -> list[Interpreter]:
    """Quick mode keeps two interpreters. With a free-threaded build: it and the GIL build of the
    same version (the fairest comparison), else the newest GIL build. Without one: the
    interpreter running the harness and the oldest GIL build (the widest version gap)."""
    if len(found) <= 2:
        return found
    gil = [i for i in found if not i.free_threaded_build]
    free = [i for i in found if i.free_threaded_build]
    if free:
        ft = free[0]
        same = [i for i in gil if _minor(i) == _minor(ft)]
        partner = same[0] if same else (gil[0] if gil else None)
        return [ft] + ([partner] if partner else [])
    current = next((i for i in gil if i.real_path == current_real_path), gil[0])
    others = [i for i in gil if i is not current]
    return [current, min(others, key=_version_tuple)]


def _minor(interp: Interpreter) -> tuple[int, ...]:
    return _version_tuple(interp)[:2]


def current_base_interpreter() -> str:
    return os.path.realpath(sys.executable)


def _version_tuple(interp: Interpreter) -> tuple[int, ...]:
    return tuple(int(p) for p in interp.version.split(".")[:3] if p.isdigit())
