"""On a free-threaded build, importing ftproxy must not load orjson (it would re-enable the GIL).

No python3.14t exists here, so a subprocess pretends to be one by answering the build question
(`sysconfig.get_config_var("Py_GIL_DISABLED")`) the way a free-threaded build does, then imports
the whole application.
"""

import subprocess
import sys

# Extensions known to declare they need the GIL (they would switch it back on when imported).
GIL_ONLY_MODULES = ["orjson"]

PROBE = """
import sys, sysconfig
real = sysconfig.get_config_var
sysconfig.get_config_var = lambda name: 1 if name == "Py_GIL_DISABLED" else real(name)
import ftproxy.app, ftproxy.launcher, ftproxy.cli, ftproxy._json as j
print(j.BACKEND)
print(",".join(sorted(m for m in {modules!r} if m in sys.modules)))
"""


def run_probe(fake_free_threaded: bool) -> tuple[str, str]:
    code = PROBE.format(modules=GIL_ONLY_MODULES)
    if not fake_free_threaded:
        code = code.replace("sysconfig.get_config_var = lambda", "_unused = lambda")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    backend, loaded = out.splitlines()
    return backend, loaded


def test_free_threaded_build_never_imports_gil_only_extensions() -> None:
    backend, loaded = run_probe(fake_free_threaded=True)
    assert backend == "json"
    assert loaded == ""


def test_gil_build_uses_orjson_when_installed() -> None:
    # The control case: proves the probe can see orjson being imported at all.
    try:
        import orjson  # noqa: F401
    except ImportError:
        return
    backend, loaded = run_probe(fake_free_threaded=False)
    assert backend == "orjson" and loaded == "orjson"
