"""`deploy/traffic_routing.yaml` as values: the instances, the router, the canary analysis and
the rollback.

Plain immutable types; `reading.py` builds them from the YAML (and is the only module that
imports PyYAML), so the dependency runs one way: reading -> model. A mistake in the file raises
`RoutingConfigError` (an `ftproxy.errors.ConfigError`) naming the file, the key (e.g.
`instances[2].weight`) and the fix. Relative paths are relative to the YAML file's folder.

Start commands are lists of words; these placeholders are replaced in each word:
`{interpreter}`, `{host}`, `{port}`, `{name}` and `{gil}` (the `--gil` value for the mode the
instance is started in: its own `gil` normally, `on` after a rollback), and `${NAME}` from the
instance's environment (its `env`, plus `rollback.gil_env` in GIL mode), as systemd expands
ExecStart: so one command line serves both backends, and `gil_env` can also resize the canary
for GIL mode (e.g. `FTPROXY_WORKERS: "4"`, see docs/canary.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ftproxy import paths
from ftproxy.environment import PYTHON_GIL
from ftproxy.errors import ConfigError

Role = Literal["standard", "canary"]
ROLES = ("standard", "canary")
MONITORING = ("standard", "enhanced")
GIL_VALUES = ("auto", "on", "off")
BACKENDS = ("process", "systemd")
PLACEHOLDERS = ("{interpreter}", "{host}", "{port}", "{name}", "{gil}")
# The canary analysis compares the paths that reach a model; paths.py names them once.
DEFAULT_ENDPOINTS: tuple[str, ...] = paths.MODEL_PATHS

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RoutingConfigError(ConfigError):
    pass


@dataclass(frozen=True, slots=True)
class Control:
    """How the rollback stops and starts an instance."""

    backend: Literal["process", "systemd"]
    pid_file: Path | None = None  # process
    log_file: Path | None = None  # process: the instance's stdout/stderr (appended)
    stop_timeout_s: float = 60.0  # process: SIGTERM, then this long to drain, then SIGKILL
    unit: str | None = None  # systemd
    dropin_dir: Path = Path("/etc/systemd/system")  # systemd: <dir>/<unit>.d/<file>
    systemctl: tuple[str, ...] = ("systemctl",)  # systemd: e.g. ["sudo", "-n", "systemctl"]


@dataclass(frozen=True, slots=True)
class Instance:
    name: str
    role: Role
    host: str
    port: int
    interpreter: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    health_url: str
    metrics_url: str
    weight: int
    monitoring: str
    gil: str  # the --gil value in normal (not rolled back) mode
    control: Control

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def argv(self, gil: str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
        env = self.env if env is None else env
        values = {
            "{interpreter}": self.interpreter,
            "{host}": self.host,
            "{port}": str(self.port),
            "{name}": self.name,
            "{gil}": gil or self.gil,
        }
        out = []
        for word in self.command:
            for key, value in values.items():
                word = word.replace(key, value)
            out.append(_ENV_REF.sub(lambda m: env.get(m.group(1), ""), word))
        return out


@dataclass(frozen=True, slots=True)
class Router:
    listen: str  # host:port nginx listens on
    config_path: Path  # the generated file
    pid_file: Path
    mode: Literal["main", "include"] = "main"  # a whole nginx.conf, or an http-level include
    main_config: Path | None = None  # what `nginx -t -c` checks; default config_path (mode main)
    prefix: Path | None = None  # nginx -p
    nginx: str = "nginx"
    reload_command: tuple[str, ...] | None = None  # default: SIGHUP to the pid file's master
    reload_timeout_s: float = 20.0
    worker_processes: str = "auto"
    error_log: Path | None = None
    access_log: Path | None = None
    temp_dir: Path | None = None
    upstream_name: str = "ftproxy"
    max_fails: int = 3
    fail_timeout_s: int = 10
    connect_timeout_s: int = 5
    read_timeout_s: int = 3600
    send_timeout_s: int = 3600
    keepalive: int = 64
    keepalive_timeout_s: int = 60
    client_max_body_size: str = "64m"

    @property
    def check_config(self) -> Path:
        return self.main_config or self.config_path


@dataclass(frozen=True, slots=True)
class Analysis:
    window_seconds: float = 60.0
    failed_windows: int = 3  # consecutive bad windows before the rollback
    min_requests: int = 20  # fewer canary requests in a window: no verdict for that window
    max_error_rate: float = 0.05  # the canary's 5xx share, absolute
    max_error_rate_increase: float = 0.01  # over the standard instances' share
    max_p99_ratio: float = 1.5  # canary p99 / standard p99
    max_p99_seconds: float | None = None  # absolute ceiling for the canary's p99
    endpoints: tuple[str, ...] = DEFAULT_ENDPOINTS


@dataclass(frozen=True, slots=True)
class RollbackSettings:
    state_file: Path
    log_file: Path
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    health_timeout_s: float = 60.0
    gil_env: Mapping[str, str] = field(default_factory=lambda: {PYTHON_GIL: "1"})


@dataclass(frozen=True, slots=True)
class Deployment:
    source: str
    instances: tuple[Instance, ...]
    router: Router
    analysis: Analysis
    rollback: RollbackSettings

    @property
    def standard(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.role == "standard")

    @property
    def canaries(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.role == "canary")

    def instance(self, name: str) -> Instance:
        for i in self.instances:
            if i.name == name:
                return i
        raise KeyError(name)
