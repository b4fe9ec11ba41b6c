"""The launcher's decisions, for every interpreter, with injected facts."""

import pytest

from ftproxy import launcher, runtime
from ftproxy.launcher import LaunchError, ServeOptions, plan
from ftproxy.runtime import RuntimeFacts

OPTIONS = ServeOptions("config.json", "127.0.0.1", 3001, workers=2, threads=64)


def facts(free_threaded: bool, gil: bool, version: str = "3.14.0") -> RuntimeFacts:
    return RuntimeFacts(version, "CPython", free_threaded, gil, "/usr/bin/python3.14t")


def test_free_threaded_without_gil_serves_with_threads() -> None:
    chosen = plan(facts(True, False), OPTIONS)
    assert (chosen.mode, chosen.workers, chosen.threads) == ("threads", 2, 64)


def test_gil_build_serves_with_processes() -> None:
    chosen = plan(facts(False, True, "3.13.0"), OPTIONS)
    assert chosen.mode == "processes"


def test_free_threaded_with_gil_refuses_with_the_way_out() -> None:
    with pytest.raises(LaunchError, match="PYTHON_GIL"):
        plan(facts(True, True), OPTIONS)


def test_banner_states_build_and_live_gil() -> None:
    text = launcher.banner(facts(True, False), plan(facts(True, False), OPTIONS), OPTIONS)
    assert "free-threaded build: yes" in text and "GIL enabled now:     no" in text
    text = launcher.banner(facts(False, True), plan(facts(False, True), OPTIONS), OPTIONS)
    assert "free-threaded build: no" in text and "GIL enabled now:     yes" in text


def test_import_guard_detects_a_gil_an_import_re_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    before = facts(True, False)
    monkeypatch.setattr(runtime, "is_gil_enabled", lambda: True)
    with pytest.raises(LaunchError, match="re-enabled the GIL"):
        launcher.check_imports_kept_gil_off(before)
    monkeypatch.setattr(runtime, "is_gil_enabled", lambda: False)
    launcher.check_imports_kept_gil_off(before)  # still off: fine
    launcher.check_imports_kept_gil_off(facts(False, True))  # GIL builds: nothing to check


@pytest.mark.parametrize("bad", [ServeOptions("c", "h", 1, workers=0), ServeOptions("c", "h", 1, threads=0)])
def test_nonsense_sizes_are_refused(bad: ServeOptions) -> None:
    with pytest.raises(LaunchError):
        plan(facts(False, True), bad)
