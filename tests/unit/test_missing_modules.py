"""A tool this interpreter lacks (Granian without a wheel, PyYAML, a benchmark run's results)
gives one clear line naming the fix, never a traceback; `serve` falls back to Gunicorn when
Granian is missing, and says so. The commands run for real, in a subprocess whose
sitecustomize blocks the module (sys.modules[name] = None, as if it were not installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftproxy.demo import write_demo_config
from ftproxy.serve.plan import LaunchError, ServeOptions, plan, with_installed_server
from ftproxy.simulator.testing import free_port, running_simulator, stop
from tests.e2e.processes import wait_for_health
from tests.unit.test_launcher import FT_ENV_ON, FT_OFF, GIL_313

REPO = Path(__file__).resolve().parents[2]
OPTIONS = ServeOptions("config.json", "127.0.0.1", 3001, workers=2, threads=64)
ALL = frozenset({"granian", "gunicorn"})


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which `modules` cannot be imported."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    blocked = "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    (site / "sitecustomize.py").write_text(f"import sys\n{blocked}")
    return {**os.environ, "PYTHONPATH": str(site)}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---- the pure decision: which server, given those installed ----

# (facts, --server, installed) -> server, or the words of the refusal
INSTALLED = [
    pytest.param(GIL_313, "auto", ALL, "granian", id="both-installed"),
    pytest.param(GIL_313, "auto", {"gunicorn"}, "gunicorn", id="gil-build-without-granian-falls-back"),
    pytest.param(FT_OFF, "auto", {"gunicorn"}, "gunicorn", id="3.14t-without-granian-falls-back"),
    pytest.param(GIL_313, "granian", {"gunicorn"}, "--server auto", id="forced-granian-missing"),
    pytest.param(GIL_313, "auto", set(), "pip install granian", id="neither"),
    pytest.param(FT_ENV_ON, "auto", {"granian"}, "pip install gunicorn", id="3.14t-gil-on-without-gunicorn"),
    pytest.param(GIL_313, "gunicorn", {"granian"}, "pip install gunicorn", id="forced-gunicorn-missing"),
]


@pytest.mark.parametrize(("given", "server", "installed", "expected"), INSTALLED)
def test_a_missing_server_falls_back_or_names_the_install(
    given: object, server: str, installed: set[str], expected: str
) -> None:
    options = ServeOptions("c.json", "127.0.0.1", 3001, workers=2, threads=64, server=server)  # type: ignore[arg-type]
    chosen = plan(given, options)  # type: ignore[arg-type]
    if expected in ALL:
        result = with_installed_server(chosen, options, installed, "/py")
        assert result.server == expected and (result.workers, result.threads) == (2, 64)
        if result is not chosen:
            assert (
                "Granian is not installed" in result.reason and "/py -m pip install granian" in result.reason
            )
        return
    with pytest.raises(LaunchError) as caught:
        with_installed_server(chosen, options, installed, "/py")
    assert expected in str(caught.value) and "/py" in str(caught.value)


# ---- the real commands ----


def test_serve_without_granian_says_it_serves_with_gunicorn(tmp_path: Path) -> None:
    env = without(tmp_path, "granian")
    result = run([sys.executable, "-m", "ftproxy", "serve", "--demo", "--dry-run", "--workers", "2"], env)
    assert result.returncode == 0, result.stderr
    assert "serving with:        Gunicorn gthread" in result.stdout
    assert "Granian is not installed for this interpreter" in result.stdout


@pytest.mark.parametrize(
    ("blocked", "flags", "fix"),
    [
        (("granian", "gunicorn"), (), "pip install granian"),
        (("granian",), ("--server", "granian"), "--server auto to serve with Gunicorn"),
    ],
    ids=["neither-server", "forced-granian"],
)
def test_serve_without_its_server_is_one_line_naming_the_fix(
    tmp_path: Path, blocked: tuple[str, ...], flags: tuple[str, ...], fix: str
) -> None:
    result = run(
        [sys.executable, "-m", "ftproxy", "serve", "--demo", "--dry-run", *flags], without(tmp_path, *blocked)
    )
    assert result.returncode == 3
    line = one_clear_line(result)
    assert line.startswith("ftproxy: cannot start:") and fix in line


@pytest.mark.e2e
def test_serve_without_granian_really_serves_with_gunicorn(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "proxy.log"
    with running_simulator() as simulator, log.open("wb") as out:
        config = write_demo_config(tmp_path, simulator, host="127.0.0.1", port=port)
        command = [sys.executable, "-m", "ftproxy", "serve", "--config", str(config), "--workers", "1"]
        process = subprocess.Popen(
            [*command, "--threads", "8"],
            env=without(tmp_path, "granian"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(f"http://127.0.0.1:{port}/health", process, log)
        finally:
            stop(process)
    text = log.read_text()
    assert "serving with:        Gunicorn gthread" in text and "Traceback" not in text


def test_the_demo_without_granian_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    result = run(
        [sys.executable, "-m", "ftproxy", "serve", "--demo", "--port", str(free_port())],
        without(tmp_path, "granian"),
    )
    assert result.returncode == 3
    line = one_clear_line(result)
    assert "pip install granian" in line and "--config" in line


def test_rollback_without_pyyaml_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    env = without(tmp_path, "yaml") | {"FTPROXY_PYTHON": sys.executable}
    result = run([str(REPO / "scripts/emergency_rollback.sh"), "--dry-run"], env)
    assert result.returncode == 2
    assert "pip install 'ftproxy[deploy]'" in one_clear_line(result)


def test_bench_report_only_without_results_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "no-run-here"
    result = run([sys.executable, "-m", "bench", "--report-only", "--output", str(empty)], dict(os.environ))
    assert result.returncode == 2
    line = one_clear_line(result)
    assert "results.json" in line and "run the benchmark first" in line
    assert not empty.exists()  # nothing written for a run that never happened
