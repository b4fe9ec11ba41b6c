"""Every environment variable ftproxy reads or sets, in one index: its name, what reads it and why.

A module that reads the environment imports the variable's name from here (`os.environ.get(
FTPROXY_CONFIG)`, never a string of its own), so this table is complete: tests/unit/
test_environment.py scans `ftproxy/` with `ast` and fails on a read whose name is not one of these
constants, and checks that docs/configuration.md lists every variable (`python -m
ftproxy.environment` prints that table). Imports nothing of ftproxy's: every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["VARIABLES", "Use", "Variable", "by_name", "markdown_table"]


class Use(Enum):
    """Who sets the variable."""

    OPERATOR = "operator"  # the person or platform starting ftproxy
    INTERNAL = "internal"  # ftproxy itself, for its own re-executed or worker processes
    STANDARD = "standard"  # a name other software defines (CPython, SAP's SDKs, Cloud Foundry, …)


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    read_by: str  # the modules (under ftproxy/) or tools that read it
    why: str
    use: Use


# The service key where SAP's SDKs look for one (ftproxy/config_env.py, docs/configuration.md).
AICORE_SERVICE_KEY = "AICORE_SERVICE_KEY"
AICORE_CLIENT_ID = "AICORE_CLIENT_ID"
AICORE_CLIENT_SECRET = "AICORE_CLIENT_SECRET"
AICORE_AUTH_URL = "AICORE_AUTH_URL"
AICORE_BASE_URL = "AICORE_BASE_URL"
AICORE_CERT_URL = "AICORE_CERT_URL"
AICORE_CERT_FILE_PATH = "AICORE_CERT_FILE_PATH"
AICORE_KEY_FILE_PATH = "AICORE_KEY_FILE_PATH"
AICORE_CERT_STR = "AICORE_CERT_STR"
AICORE_CONFIG = "AICORE_CONFIG"
AICORE_HOME = "AICORE_HOME"
AICORE_PROFILE = "AICORE_PROFILE"
AICORE_RESOURCE_GROUP = "AICORE_RESOURCE_GROUP"
VCAP_SERVICES = "VCAP_SERVICES"
HOME = "HOME"
FTPROXY_API_KEYS = "FTPROXY_API_KEYS"
FTPROXY_ALLOW_UNAUTHENTICATED = "FTPROXY_ALLOW_UNAUTHENTICATED"
# Serving.
FTPROXY_CONFIG = "FTPROXY_CONFIG"
FTPROXY_BLOCKING_THREADS = "FTPROXY_BLOCKING_THREADS"
FTPROXY_GIL_REEXEC = "FTPROXY_GIL_REEXEC"
FTPROXY_WORKER_RESTARTS = "FTPROXY_WORKER_RESTARTS"
FTPROXY_DRAIN_FILE = "FTPROXY_DRAIN_FILE"
PYTHON_GIL = "PYTHON_GIL"
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
FTPROXY_LOG_LEVEL = "FTPROXY_LOG_LEVEL"
FTPROXY_ACCESS_LOG = "FTPROXY_ACCESS_LOG"
HTTPS_PROXY = "HTTPS_PROXY"
HTTP_PROXY = "HTTP_PROXY"
NO_PROXY = "NO_PROXY"
# The canary tooling (ftproxy/deploy/).
FTPROXY_ROUTING = "FTPROXY_ROUTING"
FTPROXY_DEPLOY_PROG = "FTPROXY_DEPLOY_PROG"
FTPROXY_GIL = "FTPROXY_GIL"
FTPROXY_INSTANCE = "FTPROXY_INSTANCE"
FTPROXY_PYTHON = "FTPROXY_PYTHON"
PYTHONUNBUFFERED = "PYTHONUNBUFFERED"

_OP, _IN, _STD = Use.OPERATOR, Use.INTERNAL, Use.STANDARD
_KEY_PART = "one part of a service key (the Python AI Core SDK's name); all four together"
_CERT = "an X.509 credential (the SDK's name): refused with a message, ftproxy needs a client secret"

VARIABLES: tuple[Variable, ...] = (
    Variable(AICORE_SERVICE_KEY, "config_env.py", "the whole service key JSON, as SAP BTP gives it", _STD),
    Variable(AICORE_CLIENT_ID, "config_env.py", _KEY_PART, _STD),
    Variable(AICORE_CLIENT_SECRET, "config_env.py", _KEY_PART, _STD),
    Variable(AICORE_AUTH_URL, "config_env.py", _KEY_PART + " (with or without /oauth/token)", _STD),
    Variable(AICORE_BASE_URL, "config_env.py", _KEY_PART + " (with or without /v2)", _STD),
    Variable(AICORE_CERT_URL, "config_env.py", _CERT, _STD),
    Variable(AICORE_CERT_FILE_PATH, "config_env.py", _CERT, _STD),
    Variable(AICORE_KEY_FILE_PATH, "config_env.py", _CERT, _STD),
    Variable(AICORE_CERT_STR, "config_env.py", _CERT, _STD),
    Variable(AICORE_CONFIG, "config_env.py", "the AI Core SDK's config file (must exist when set)", _STD),
    Variable(AICORE_HOME, "config_env.py", "the SDK config file's folder (default ~/.aicore)", _STD),
    Variable(AICORE_PROFILE, "config_env.py", "the SDK config file config_<profile>.json", _STD),
    Variable(AICORE_RESOURCE_GROUP, "config_env.py", "the resource group (default: default)", _STD),
    Variable(VCAP_SERVICES, "config_env.py", "Cloud Foundry: the service labelled aicore", _STD),
    Variable(HOME, "cli.py, config_env.py (Path.home())", "where ~/.aicore is", _STD),
    Variable(FTPROXY_API_KEYS, "config_env.py", "client keys, comma-separated (no config file)", _OP),
    Variable(
        FTPROXY_ALLOW_UNAUTHENTICATED, "config_env.py", "1: no client keys needed (no config file)", _OP
    ),
    Variable(
        FTPROXY_CONFIG,
        "config_env.py (cli: serve, check-config), web/app.py (each worker)",
        "the config file when --config is not given; serve sets it for its workers",
        _OP,
    ),
    Variable(
        FTPROXY_BLOCKING_THREADS,
        "web/app.py",
        "threads per worker, set by serve/launch.py for its workers (sizes the upstream pool)",
        _IN,
    ),
    Variable(
        FTPROXY_GIL_REEXEC,
        "serve/launch.py",
        "set in the re-executed interpreter (-X gil=N), so it does not re-execute again",
        _IN,
    ),
    Variable(
        FTPROXY_WORKER_RESTARTS,
        "serve/lifecycle.py",
        "restarts counted in the workers' parent, inherited by respawned workers (the metric)",
        _IN,
    ),
    Variable(
        FTPROXY_DRAIN_FILE,
        "runtime.py (DrainWatch), serve/lifecycle.py",
        "the file whose presence means drain; set by serve for its workers",
        _IN,
    ),
    Variable(
        PYTHON_GIL,
        "runtime.py (detect), CPython itself; set by deploy/ (rollback.gil_env)",
        "1 turns the GIL on in a free-threaded build: the rollback switch",
        _STD,
    ),
    Variable(
        PROMETHEUS_MULTIPROC_DIR,
        "observe/metrics.py and prometheus_client, at import; set by serve/launch.py",
        "the shared metrics directory of process workers",
        _STD,
    ),
    Variable(FTPROXY_LOG_LEVEL, "observe/logs.py", "the log level (default INFO)", _OP),
    Variable(FTPROXY_ACCESS_LOG, "observe/logs.py", "0: no request log lines (default 1)", _OP),
    Variable(HTTPS_PROXY, "upstream/transport.py (urllib's getproxies_environment)", "proxy for https", _STD),
    Variable(HTTP_PROXY, "upstream/transport.py (urllib's getproxies_environment)", "proxy for http", _STD),
    Variable(
        NO_PROXY, "upstream/transport.py (urllib's proxy_bypass_environment)", "hosts without proxy", _STD
    ),
    Variable(FTPROXY_ROUTING, "deploy/cli.py", "the routing YAML (default deploy/traffic_routing.yaml)", _OP),
    Variable(FTPROXY_DEPLOY_PROG, "deploy/cli.py", "the command name in usage lines (wrapper scripts)", _IN),
    Variable(
        FTPROXY_GIL,
        "the instance's start command (systemd, Kubernetes expand it); set by deploy/",
        "the instance's --gil value: on after a rollback",
        _IN,
    ),
    Variable(
        FTPROXY_INSTANCE,
        "nothing of ftproxy's; set by deploy/backends.py",
        "names a process-backend instance in its environment, for the operator",
        _IN,
    ),
    Variable(FTPROXY_PYTHON, "scripts/emergency_rollback.sh", "the interpreter (default .venv)", _OP),
    Variable(
        PYTHONUNBUFFERED,
        "CPython; set by deploy/backends.py and simulator/testing.py for their children",
        "log lines reach the log file as they are written",
        _STD,
    ),
)

_BY_NAME = {variable.name: variable for variable in VARIABLES}


def by_name(name: str) -> Variable:
    return _BY_NAME[name]


def markdown_table() -> str:
    """The table docs/configuration.md carries (its test compares the variables listed)."""
    rows = [
        "| Variable | Read by | What for | Kind |",
        "|---|---|---|---|",
        *(f"| `{v.name}` | {v.read_by} | {v.why} | {v.use.value} |" for v in VARIABLES),
    ]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
