"""On a free-threaded build, nothing ftproxy imports may re-enable the GIL.

No python3.14t exists here, so a subprocess pretends to be one by answering the build question
(`sysconfig.get_config_var("Py_GIL_DISABLED")`) the way a free-threaded build does, imports
everything a serving process imports, builds the app and answers requests in-process (so lazy
imports run too), then lists the C extensions that got loaded. Any extension outside the
standard library must be one known to declare free-threading support: importing any other
would switch the GIL back on and Granian would refuse to serve (SPEC §2).
"""

from __future__ import annotations

import json
import subprocess
import sys

# C extensions that ship free-threaded (cp313t/cp314t) wheels declaring Py_mod_gil_not_used.
FREE_THREADING_READY = {
    "granian._granian",
    "psutil._psutil_linux",
    "psutil._psutil_posix",
    "zstandard.backend_c",  # optional httpx decoder; free-threaded wheels since 0.24
}
# Extensions known to need the GIL: must never be loaded on a free-threaded build.
GIL_ONLY = {"orjson", "orjson.orjson"}

PROBE = """
import importlib.machinery, io, json, sys, sysconfig, tempfile
from pathlib import Path
real = sysconfig.get_config_var
if FAKE:
    sysconfig.get_config_var = lambda name: 1 if name == "Py_GIL_DISABLED" else real(name)
import ftproxy.web.app, ftproxy.cli, ftproxy.serve.launch, ftproxy._json as j
import granian.server
from ftproxy.demo import write_demo_config
config = write_demo_config(Path(tempfile.mkdtemp()), "http://127.0.0.1:9", host="127.0.0.1", port=3001)
app = ftproxy.web.app.create_app(ftproxy.config.load_config(config))
for path in ("/health", "/metrics", "/v1/models"):
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(),
           "HTTP_AUTHORIZATION": "Bearer sk-ftproxy-demo"}
    assert b"".join(app(env, lambda status, headers: None))
# a proxied call too (the upstream is unreachable: the transport, TLS set-up and the error path run)
body = json.dumps({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}).encode()
env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/chat/completions", "wsgi.input": io.BytesIO(body),
       "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": "Bearer sk-ftproxy-demo"}
assert b"".join(app(env, lambda status, headers: None))
stdlib = sysconfig.get_paths()["stdlib"]
extensions = sorted(
    name for name, module in sys.modules.items()
    if (getattr(module, "__file__", None) or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    and not module.__file__.startswith(stdlib)
)
print(json.dumps({"backend": j.BACKEND, "extensions": extensions}))
"""


def run_probe(fake_free_threaded: bool) -> dict:
    code = f"FAKE = {fake_free_threaded}\n" + PROBE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_free_threaded_build_loads_only_free_threading_ready_extensions() -> None:
    probe = run_probe(fake_free_threaded=True)
    assert probe["backend"] == "json"
    assert not GIL_ONLY & set(probe["extensions"])
    assert set(probe["extensions"]) <= FREE_THREADING_READY, probe["extensions"]


def test_the_probe_sees_gil_only_extensions_on_a_gil_build() -> None:
    # The control case: on a GIL build orjson (installed with the `fast` extra, as the test
    # set-up does) is loaded, which proves the probe would notice it.
    probe = run_probe(fake_free_threaded=False)
    assert probe["backend"] == "orjson" and "orjson.orjson" in probe["extensions"]
