"""Reading `deploy/traffic_routing.yaml` into the `model` dataclasses, validating every key.

`load(path)` reads a file, `parse(raw)` an already-parsed document; both validate completely. A
mistake raises `RoutingConfigError` naming the file, the key (e.g. `instances[2].weight`) and
the fix. PyYAML is imported here only, never on the server's import path. This module imports
`model`, never the other way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ftproxy.deploy.model import (
    _ENV_REF,
    BACKENDS,
    GIL_VALUES,
    MONITORING,
    ROLES,
    Analysis,
    Control,
    Deployment,
    Instance,
    RollbackSettings,
    Router,
    RoutingConfigError,
)
from ftproxy.environment import PYTHON_GIL

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+\.service$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load(path: str | Path) -> Deployment:
    import yaml  # only here: never on the server's import path

    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RoutingConfigError(
            source, "(file)", f"cannot read it ({exc.strerror})", "check the path"
        ) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(
            source, "(syntax)", f"not valid YAML: {exc}", "fix the YAML syntax at the position shown"
        ) from exc
    return parse(raw, source=source, base=path.parent)


def parse(raw: Any, *, source: str = "<memory>", base: Path = Path(".")) -> Deployment:
    r = _Reader(source, base)
    top = r.section(raw, "(top level)", {"instances", "router", "analysis", "rollback"})
    instances_raw = r.required(top, "instances", "(top level)")
    if not isinstance(instances_raw, list) or not instances_raw:
        raise r.error("instances", "must be a non-empty list", "declare at least one standard instance")
    instances = tuple(_instance(r, item, f"instances[{n}]") for n, item in enumerate(instances_raw))
    _check_instances(r, instances)
    router = _router(r, r.required(top, "router", "(top level)"))
    analysis = _analysis(r, top.get("analysis", {}))
    rollback = _rollback(r, r.required(top, "rollback", "(top level)"))
    return Deployment(source, instances, router, analysis, rollback)


class _Reader:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def error(self, key: str, problem: str, fix: str) -> RoutingConfigError:
        return RoutingConfigError(self.source, key, problem, fix)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(
                key, f"must be a mapping, not {_kind(value)}", "write `key: value` lines under it"
            )
        return value

    def section(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        """A mapping whose keys are all in `allowed`: how every part of the file starts."""
        obj = self.mapping(value, key)
        self.known(obj, key, allowed)
        return obj

    def known(self, obj: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise self.error(
                f"{key}.{unknown[0]}" if key != "(top level)" else unknown[0],
                "unknown key",
                f"remove it or fix its spelling; allowed here: {', '.join(sorted(allowed))}",
            )

    def required(self, obj: Mapping[str, Any], name: str, key: str) -> Any:
        if name not in obj or obj[name] is None:
            where = name if key == "(top level)" else f"{key}.{name}"
            raise self.error(where, "missing", f"add `{name}:`")
        return obj[name]

    def string(self, obj: Mapping[str, Any], name: str, key: str, default: str | None = None) -> str:
        value = obj.get(name, default)
        if value is None:
            return self.required(obj, name, key)  # raises
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{key}.{name}", f"must be a non-empty string, not {value!r}", "quote it")
        return value

    def optional_string(self, obj: Mapping[str, Any], name: str, key: str) -> str | None:
        return None if obj.get(name) is None else self.string(obj, name, key)

    def number(
        self,
        obj: Mapping[str, Any],
        name: str,
        key: str,
        default: float,
        *,
        minimum: float = 0,
        integer: bool = False,
        maximum: float | None = None,
    ) -> Any:
        value = obj.get(name, default)
        kinds = (int,) if integer else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        if not ok or value < minimum or (maximum is not None and value > maximum):
            what = "an integer" if integer else "a number"
            bounds = f">= {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")
            raise self.error(
                f"{key}.{name}", f"must be {what} {bounds}, not {value!r}", f"use e.g. {default}"
            )
        return value

    def path(self, obj: Mapping[str, Any], name: str, key: str, default: str | None = None) -> Path:
        text = self.string(obj, name, key, default)
        p = Path(text).expanduser()
        return p if p.is_absolute() else (self.base / p).resolve()

    def optional_path(self, obj: Mapping[str, Any], name: str, key: str) -> Path | None:
        return None if obj.get(name) is None else self.path(obj, name, key)

    def words(self, obj: Mapping[str, Any], name: str, key: str, *, required: bool) -> tuple[str, ...] | None:
        value = obj.get(name)
        if value is None:
            if required:
                self.required(obj, name, key)
            return None
        if isinstance(value, str):
            raise self.error(
                f"{key}.{name}",
                "must be a list of words, not one string",
                'write it as a YAML list, e.g. ["{interpreter}", "-m", "ftproxy", "serve", ...]',
            )
        if not isinstance(value, list) or not value or not all(isinstance(w, str | int) for w in value):
            raise self.error(f"{key}.{name}", "must be a non-empty list of strings", "quote each word")
        return tuple(str(w) for w in value)

    def env(self, obj: Mapping[str, Any], name: str, key: str) -> dict[str, str]:
        value = obj.get(name) or {}
        value = self.mapping(value, f"{key}.{name}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not _ENV_NAME.match(k):
                raise self.error(
                    f"{key}.{name}.{k}", "not a valid environment variable name", "use [A-Z_0-9]"
                )
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise self.error(f"{key}.{name}.{k}", f"value must be a string, not {v!r}", 'quote it: "1"')
            out[k] = str(v)
        return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _host_port(r: _Reader, text: Any, key: str) -> tuple[str, int]:
    fix = "write host:port, e.g. 127.0.0.1:3001 or [::1]:3001"
    if not isinstance(text, str):
        raise r.error(key, f"must be a host:port string, not {text!r}", fix)
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise r.error(key, f"{text!r} is not host:port", fix)
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise r.error(key, f"{host!r} is not an IPv6 address", fix) from exc
    return host, int(port)


def _url(r: _Reader, value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise r.error(key, f"{value!r} is not an http(s) URL", "write e.g. http://127.0.0.1:3001/ready")
    return value


_INSTANCE_KEYS = {
    "name",
    "role",
    "address",
    "interpreter",
    "command",
    "env",
    "health_url",
    "metrics_url",
    "weight",
    "monitoring",
    "gil",
    "control",
    "description",
}
_CONTROL_KEYS = {"backend", "pid_file", "log_file", "stop_timeout_seconds", "unit", "dropin_dir", "systemctl"}


def _instance(r: _Reader, raw: Any, key: str) -> Instance:
    obj = r.section(raw, key, _INSTANCE_KEYS)
    name = r.string(obj, "name", key)
    if not _NAME.match(name):
        raise r.error(f"{key}.name", f"{name!r} is not a valid name", "use letters, digits, '-', '_' or '.'")
    role = r.string(obj, "role", key)
    if role not in ROLES:
        raise r.error(f"{key}.role", f"{role!r} is not a role", "use standard or canary")
    host, port = _host_port(r, r.required(obj, "address", key), f"{key}.address")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    interpreter = r.string(obj, "interpreter", key)
    command = r.words(obj, "command", key, required=True)
    assert command is not None
    health_url = _url(r, r.string(obj, "health_url", key, f"http://{address}/ready"), f"{key}.health_url")
    metrics_url = _url(
        r, r.string(obj, "metrics_url", key, f"http://{address}/metrics"), f"{key}.metrics_url"
    )
    weight = r.number(obj, "weight", key, 1, integer=True, maximum=1000)
    monitoring = r.string(obj, "monitoring", key, "enhanced" if role == "canary" else "standard")
    if monitoring not in MONITORING:
        raise r.error(
            f"{key}.monitoring", f"{monitoring!r} is not a monitoring level", "use standard or enhanced"
        )
    gil = r.string(obj, "gil", key, "auto")
    if gil not in GIL_VALUES:
        raise r.error(f"{key}.gil", f"{gil!r} is not a --gil value", "use auto, on or off")
    if role == "canary" and "{gil}" not in " ".join(command):
        raise r.error(
            f"{key}.command",
            "a canary's start command must contain {gil}: the rollback restarts it with --gil on",
            'add "--gil", "{gil}" to the serve command',
        )
    env = r.env(obj, "env", key)
    missing = sorted({m.group(1) for w in command for m in _ENV_REF.finditer(w)} - set(env))
    if missing:
        raise r.error(
            f"{key}.command",
            f"uses ${{{missing[0]}}}, which the instance's env does not define",
            f"add {missing[0]} to {key}.env (its value in normal mode)",
        )
    control = _control(r, r.required(obj, "control", key), f"{key}.control", name)
    return Instance(
        name,
        role,
        host,
        port,
        interpreter,
        command,
        env,
        health_url,
        metrics_url,
        weight,
        monitoring,
        gil,
        control,
    )


def _control(r: _Reader, raw: Any, key: str, name: str) -> Control:
    obj = r.section(raw, key, _CONTROL_KEYS)
    backend = r.string(obj, "backend", key)
    if backend not in BACKENDS:
        raise r.error(f"{key}.backend", f"{backend!r} is not a backend", "use process or systemd")
    if backend == "process":
        return Control(
            "process",
            pid_file=r.path(obj, "pid_file", key),
            log_file=r.path(obj, "log_file", key, f"{name}.log"),
            stop_timeout_s=r.number(obj, "stop_timeout_seconds", key, 60.0, minimum=1),
        )
    unit = r.string(obj, "unit", key)
    if not _UNIT.match(unit):
        raise r.error(f"{key}.unit", f"{unit!r} is not a unit name", "write e.g. ftproxy@canary.service")
    return Control(
        "systemd",
        unit=unit,
        dropin_dir=r.path(obj, "dropin_dir", key, "/etc/systemd/system"),
        systemctl=r.words(obj, "systemctl", key, required=False) or ("systemctl",),
    )


def _check_instances(r: _Reader, instances: Sequence[Instance]) -> None:
    seen: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for n, inst in enumerate(instances):
        if inst.name in seen:
            raise r.error(
                f"instances[{n}].name", f"{inst.name!r} is also instances[{seen[inst.name]}]", "rename one"
            )
        seen[inst.name] = n
        if inst.address in addresses:
            raise r.error(
                f"instances[{n}].address",
                f"{inst.address} is also instances[{addresses[inst.address]}]'s",
                "give every instance its own host:port",
            )
        addresses[inst.address] = n
    if not any(i.role == "standard" and i.weight > 0 for i in instances):
        raise r.error(
            "instances",
            "no standard instance with a weight above 0",
            "the rollback moves all traffic to the standard instances: declare at least one with weight >= 1",
        )
    pids = [i.control.pid_file for i in instances if i.control.pid_file is not None]
    if len(pids) != len(set(pids)):
        raise r.error("instances", "two instances share a control.pid_file", "give each its own pid file")


_ROUTER_KEYS = {
    "kind",
    "listen",
    "config_path",
    "mode",
    "main_config",
    "prefix",
    "nginx",
    "reload_command",
    "reload_timeout_seconds",
    "pid_file",
    "worker_processes",
    "error_log",
    "access_log",
    "temp_dir",
    "upstream_name",
    "max_fails",
    "fail_timeout_seconds",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "send_timeout_seconds",
    "keepalive",
    "keepalive_timeout_seconds",
    "client_max_body_size",
}


def _router(r: _Reader, raw: Any) -> Router:
    key = "router"
    obj = r.section(raw, key, _ROUTER_KEYS)
    kind = r.string(obj, "kind", key, "nginx")
    if kind != "nginx":
        raise r.error("router.kind", f"{kind!r} is not supported", "use nginx")
    host, port = _host_port(r, r.required(obj, "listen", key), "router.listen")
    mode = r.string(obj, "mode", key, "main")
    if mode not in ("main", "include"):
        raise r.error("router.mode", f"{mode!r} is not a mode", "use main (a whole nginx.conf) or include")
    main_config = r.optional_path(obj, "main_config", key)
    if mode == "include" and main_config is None:
        raise r.error(
            "router.main_config",
            "missing: with mode include, `nginx -t -c` must check the main nginx.conf that includes the file",
            "add main_config: /etc/nginx/nginx.conf",
        )
    workers = obj.get("worker_processes", "auto")
    if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise r.error("router.worker_processes", f"{workers!r}", "use auto or a positive integer")
    upstream = r.string(obj, "upstream_name", key, "ftproxy")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", upstream):
        raise r.error("router.upstream_name", f"{upstream!r} is not an nginx name", "use letters, digits, _")
    body = r.string(obj, "client_max_body_size", key, "64m")
    if not re.match(r"^\d+[kKmMgG]?$", body):
        raise r.error("router.client_max_body_size", f"{body!r}", "use an nginx size such as 64m")
    return Router(
        listen=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        config_path=r.path(obj, "config_path", key),
        pid_file=r.path(obj, "pid_file", key),
        mode=mode,  # type: ignore[arg-type]
        main_config=main_config,
        prefix=r.optional_path(obj, "prefix", key),
        nginx=r.string(obj, "nginx", key, "nginx"),
        reload_command=r.words(obj, "reload_command", key, required=False),
        reload_timeout_s=r.number(obj, "reload_timeout_seconds", key, 20.0, minimum=1),
        worker_processes=str(workers),
        error_log=r.optional_path(obj, "error_log", key),
        access_log=r.optional_path(obj, "access_log", key),
        temp_dir=r.optional_path(obj, "temp_dir", key),
        upstream_name=upstream,
        max_fails=r.number(obj, "max_fails", key, 3, integer=True),
        fail_timeout_s=r.number(obj, "fail_timeout_seconds", key, 10, minimum=1, integer=True),
        connect_timeout_s=r.number(obj, "connect_timeout_seconds", key, 5, minimum=1, integer=True),
        read_timeout_s=r.number(obj, "read_timeout_seconds", key, 3600, minimum=1, integer=True),
        send_timeout_s=r.number(obj, "send_timeout_seconds", key, 3600, minimum=1, integer=True),
        keepalive=r.number(obj, "keepalive", key, 64, minimum=1, integer=True),
        keepalive_timeout_s=r.number(obj, "keepalive_timeout_seconds", key, 60, minimum=1, integer=True),
        client_max_body_size=body,
    )


_ANALYSIS_KEYS = {
    "window_seconds",
    "failed_windows",
    "min_requests",
    "max_error_rate",
    "max_error_rate_increase",
    "max_p99_ratio",
    "max_p99_seconds",
    "endpoints",
}


def _analysis(r: _Reader, raw: Any) -> Analysis:
    key = "analysis"
    obj = r.section(raw, key, _ANALYSIS_KEYS)
    d = Analysis()
    endpoints = r.words(obj, "endpoints", key, required=False) or d.endpoints
    for e in endpoints:
        if not e.startswith("/"):
            raise r.error("analysis.endpoints", f"{e!r} is not a path", "write e.g. /v1/chat/completions")
    ceiling = obj.get("max_p99_seconds")
    return Analysis(
        window_seconds=r.number(obj, "window_seconds", key, d.window_seconds, minimum=0.1),
        failed_windows=r.number(obj, "failed_windows", key, d.failed_windows, minimum=1, integer=True),
        min_requests=r.number(obj, "min_requests", key, d.min_requests, minimum=1, integer=True),
        max_error_rate=r.number(obj, "max_error_rate", key, d.max_error_rate, maximum=1),
        max_error_rate_increase=r.number(
            obj, "max_error_rate_increase", key, d.max_error_rate_increase, maximum=1
        ),
        max_p99_ratio=r.number(obj, "max_p99_ratio", key, d.max_p99_ratio, minimum=1),
        max_p99_seconds=None
        if ceiling is None
        else r.number(obj, "max_p99_seconds", key, 5.0, minimum=0.001),
        endpoints=endpoints,
    )


_ROLLBACK_KEYS = {
    "state_file",
    "log_file",
    "webhook_url",
    "webhook_timeout_seconds",
    "health_timeout_seconds",
    "gil_env",
}


def _rollback(r: _Reader, raw: Any) -> RollbackSettings:
    key = "rollback"
    obj = r.section(raw, key, _ROLLBACK_KEYS)
    webhook = r.optional_string(obj, "webhook_url", key)
    if webhook is not None:
        _url(r, webhook, "rollback.webhook_url")
    gil_env = r.env(obj, "gil_env", key) or {PYTHON_GIL: "1"}
    if gil_env.get(PYTHON_GIL) != "1":
        raise r.error(
            f"rollback.gil_env.{PYTHON_GIL}",
            'must be "1": the rollback switches the canary to the GIL',
            f'write {PYTHON_GIL}: "1"',
        )
    return RollbackSettings(
        state_file=r.path(obj, "state_file", key),
        log_file=r.path(obj, "log_file", key),
        webhook_url=webhook,
        webhook_timeout_s=r.number(obj, "webhook_timeout_seconds", key, 5.0, minimum=0.1),
        health_timeout_s=r.number(obj, "health_timeout_seconds", key, 60.0, minimum=1),
        gil_env=gil_env,
    )
