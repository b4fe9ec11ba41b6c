"""The layers stay one-way: import-linter checks the contracts in pyproject.toml
([tool.importlinter]: the layer order, no import circles at any depth, deploy/ and the simulator
free of the runtime), and the canary tooling loads none of the proxy's heavy dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[2]


def _lint(config: Path | None, cwd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    previous = os.getcwd()
    os.chdir(cwd)  # import-linter reads pyproject.toml from, and imports packages from, the cwd
    try:
        status = lint_imports(config_filename=str(config) if config else None, no_cache=True, no_logo=True)
    finally:
        os.chdir(previous)
        sys.path[:] = [p for p in sys.path if p != str(cwd)]  # lint_imports prepends the cwd
    return status, capsys.readouterr().out


def test_ftproxy_keeps_its_layer_contracts(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = _lint(None, REPO, capsys)
    assert status == 0, report
    assert "4 kept, 0 broken" in report


def test_the_contracts_catch_an_upward_import_and_a_circle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same contract types, on a package that breaks them: the check is not a no-op."""
    package = tmp_path / "layered_probe"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from layered_probe.low import a\n")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("from layered_probe import high\nfrom layered_probe.low import b\n")
    (package / "low" / "b.py").write_text("from layered_probe.low import a\n")
    config = tmp_path / "contracts.toml"
    config.write_text(
        textwrap.dedent("""
        [tool.importlinter]
        root_package = "layered_probe"

        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        containers = ["layered_probe"]
        layers = ["high", "low"]

        [[tool.importlinter.contracts]]
        name = "acyclic"
        type = "acyclic_siblings"
        ancestors = ["layered_probe"]
        """)
    )
    status, report = _lint(config, tmp_path, capsys)
    assert status != 0
    assert "layered_probe.low is not allowed to import layered_probe.high" in report
    assert "No cycles are allowed in layered_probe.low" in report


def test_the_canary_tooling_loads_nothing_of_the_runtime() -> None:
    code = (
        "import sys, ftproxy.deploy.model, ftproxy.deploy.cli\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ftproxy', 'httpx', 'prometheus_client', 'psutil', 'granian'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = set(done.stdout.split())
    # errors.py brings the JSON codec, which asks runtime.py which backend this build may use.
    allowed = {
        "ftproxy",
        "ftproxy.errors",
        "ftproxy._json",
        "ftproxy.runtime",
        "ftproxy.paths",
        "ftproxy.environment",
    }
    assert {m for m in loaded if not m.startswith("ftproxy.deploy")} <= allowed, loaded
