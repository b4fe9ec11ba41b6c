"""scripts/bootstrap.sh's stamp decision (`install_plan`): what is installed is recorded, and the
venv is reinstalled only when something needed is missing or the interpreter or pyproject.toml
changed, with the union of the extras, so scripts/run and scripts/test never undo each other."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap.sh"
PY, SUM = "/usr/bin/python3.13", "123 456"

# (stamp file's line, or None for none, interpreter, pyproject cksum, extras wanted) -> plan
PLANS = [
    pytest.param(None, PY, SUM, "fast,deploy", "recreate fast,deploy", id="no-venv-yet"),
    pytest.param(f"{PY}|fast,deploy|{SUM}", PY, SUM, "fast,deploy", "ok", id="same-again"),
    pytest.param(f"{PY}|fast,deploy,test|{SUM}", PY, SUM, "fast,deploy", "ok", id="run-after-test"),
    pytest.param(
        f"{PY}|fast,deploy|{SUM}",
        PY,
        SUM,
        "fast,deploy,test",
        "install fast,deploy,test",
        id="test-after-run",
    ),
    pytest.param(
        f"{PY}|fast,deploy,test|{SUM}",
        PY,
        "999 456",
        "fast,deploy",
        "install fast,deploy,test",
        id="pyproject-changed-keeps-the-union",
    ),
    pytest.param(
        f"{PY}|fast,deploy|{SUM}",
        "/usr/bin/python3.14t",
        SUM,
        "deploy",
        "recreate deploy",
        id="other-interpreter",
    ),
    pytest.param(f"{PY}|deploy,test|{SUM}", PY, SUM, "deploy", "ok", id="free-threaded-run-after-test"),
]


@pytest.mark.parametrize(("stamp", "python", "pyproject", "wanted", "expected"), PLANS)
def test_install_plan(
    tmp_path: Path, stamp: str | None, python: str, pyproject: str, wanted: str, expected: str
) -> None:
    stamp_file = tmp_path / ".ftproxy-stamp"
    if stamp is not None:
        stamp_file.write_text(stamp + "\n")
    result = subprocess.run(
        ["bash", "-c", 'source "$0" && install_plan "$@"', BOOTSTRAP, stamp_file, python, pyproject, wanted],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
