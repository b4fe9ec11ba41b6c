"""One isolated venv per interpreter, with ftproxy installed from this checkout.

Why not the developer's `.venv`: each interpreter must run ftproxy with the packages it would
get in production (orjson only on GIL builds: it re-enables the GIL on free-threaded ones,
SPEC §2), and the venv must not depend on what someone installed by hand. Building a venv takes
tens of seconds, so it is reused while its stamp (interpreter real path, pyproject.toml digest,
extras) is unchanged. The cache defaults to `<repo>/.bench-venvs/` (or $FTPROXY_BENCH_VENVS).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.discovery import Interpreter

STAMP = ".ftproxy-bench-stamp"
# Reported per venv: what decides the speed of the hot path.
REPORTED_PACKAGES = (
    "ftproxy",
    "granian",
    "gunicorn",
    "httpx",
    "httpcore",
    "h11",
    "orjson",
    "psutil",
    "prometheus-client",
)
_PACKAGES_PROBE = """
import json, importlib.metadata as m
out = {}
for name in %r:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


class VenvError(RuntimeError):
    pass


@dataclass(frozen=True)
class Venv:
    path: Path
    python: str
    packages: dict[str, str | None]
    reused: bool


def default_cache(repo: Path) -> Path:
    return Path(os.environ.get("FTPROXY_BENCH_VENVS") or repo / ".bench-venvs")


def extras_for(interp: Interpreter) -> str:
    # Production installs use the `fast` extra (orjson) on GIL builds only (scripts/bootstrap.sh).
    return "" if interp.free_threaded_build else "fast"


def stamp_for(interp: Interpreter, repo: Path) -> str:
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return f"{interp.real_path}|{extras_for(interp)}|{digest}"


def ensure(interp: Interpreter, repo: Path, cache: Path, *, timeout_s: float = 600) -> Venv:
    """The venv for `interp`, created or refreshed when its stamp changed."""
    path = cache / f"py{interp.key}"
    python = str(path / "bin" / "python")
    stamp = stamp_for(interp, repo)
    stamp_file = path / STAMP
    reused = os.path.exists(python) and stamp_file.exists() and stamp_file.read_text().strip() == stamp
    if not reused:
        if path.exists():
            shutil.rmtree(path)
        cache.mkdir(parents=True, exist_ok=True)
        _run([interp.real_path, "-m", "venv", str(path)], timeout_s)
        _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], timeout_s, check=False)
        extras = extras_for(interp)
        target = f"{repo}[{extras}]" if extras else str(repo)
        # gunicorn is a dependency of ftproxy already; naming it keeps the mode available even if
        # that ever changes, since the report compares against it.
        _run([python, "-m", "pip", "install", "--quiet", "-e", target, "gunicorn"], timeout_s)
        stamp_file.write_text(stamp + "\n")
    return Venv(path, python, installed_packages(python), reused)


def installed_packages(python: str) -> dict[str, str | None]:
    out = subprocess.run(
        [python, "-c", _PACKAGES_PROBE % (REPORTED_PACKAGES,)], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise VenvError(f"{python}: cannot list packages: {out.stderr.strip()[-500:]}")
    return dict(json.loads(out.stdout))


def _run(argv: list[str], timeout_s: float, *, check: bool = True) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if check and done.returncode != 0:
        raise VenvError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}")
