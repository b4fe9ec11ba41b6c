"""What a new user types wrong gets the right answer: the command's own usage with the option
meant, every config mistake at once, and the benchmark's help without installing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftproxy.cli import main

REPO = Path(__file__).resolve().parents[2]


# (arguments, the command whose usage is shown, the option suggested)
MISTYPED = [
    (["serve", "--demo", "--prot", "3005"], "ftproxy serve", "did you mean --port (instead of --prot)"),
    (["serve", "--wokers=2"], "ftproxy serve", "did you mean --workers (instead of --wokers=2)"),
    (["check-config", "a.json", "b.json"], "ftproxy check-config", "unrecognized arguments: b.json"),
]


@pytest.mark.parametrize(("argv", "usage", "words"), MISTYPED, ids=[" ".join(m[0]) for m in MISTYPED])
def test_an_unknown_option_shows_its_commands_usage_and_the_option_meant(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str, words: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {usage} ") and words in err


def test_check_config_prints_every_mistake(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "subAccounts": {"s": {"resourcegroup": "rg", "service_key_json": "nope.json"}},
                "secret_authentication_tokens": ["sk-1"],
                "port": "3001",
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "ftproxy", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all(
        line.startswith(f"ftproxy: configuration error: {config}: ") for line in lines
    )
    assert "subAccounts.s.resourcegroup" in lines[0] and 'rename it to "resource_group"' in lines[0]
    assert "service_key_json" in lines[1] and "port" in lines[2]


def test_benchmark_help_answers_at_once_with_the_scripts_name_and_readmes_default() -> None:
    result = subprocess.run(
        [str(REPO / "scripts/benchmark_free_threading.sh"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stderr == ""  # no bootstrap, no "[benchmark] installing …"
    assert result.stdout.startswith("usage: scripts/benchmark_free_threading.sh ")
    default = "bench-results/full"
    assert default in " ".join(result.stdout.split())
    assert f"`{default}`" in (REPO / "README.md").read_text()
