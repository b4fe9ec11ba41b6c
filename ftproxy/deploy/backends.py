"""How the rollback stops and starts an instance: pluggable per instance (`control.backend`).

`process`: the instance is a process whose PID is in `control.pid_file`; it is stopped with
SIGTERM (ftproxy then drains: /ready 503, in-flight streams finish, exit 0) and waited for, at
most `stop_timeout_seconds`, then SIGKILL; it is started again from the instance's `command`
with its `env`, plus `rollback.gil_env` (PYTHON_GIL=1) and `{gil}` = `on` in GIL mode, in a new
session, output appended to `control.log_file`, and its PID written to the pid file.

`systemd`: GIL mode is an environment drop-in, `<dropin_dir>/<unit>.d/50-ftproxy-gil.conf`
(`PYTHON_GIL=1`, `FTPROXY_GIL=on`, which the unit's ExecStart passes as `--gil ${FTPROXY_GIL}`),
then `systemctl daemon-reload` and `systemctl restart <unit>`: systemd sends SIGTERM to the main
PID and waits TimeoutStopSec while ftproxy drains. Normal mode removes the drop-in. Every
command goes through an injectable runner, so this is unit-tested without systemd.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ftproxy.deploy.model import Instance
from ftproxy.deploy.nginx import Runner, run_command
from ftproxy.deploy.state import write_atomically
from ftproxy.environment import FTPROXY_GIL, FTPROXY_INSTANCE, PYTHONUNBUFFERED

DROPIN_NAME = "50-ftproxy-gil.conf"


class BackendError(RuntimeError):
    pass


@dataclass
class Restarted:
    pid: int | None
    detail: str


class Backend(Protocol):
    def plan(self, inst: Instance, *, gil: bool) -> str: ...
    def restart(self, inst: Instance, *, gil: bool) -> Restarted: ...
    def start(self, inst: Instance, *, gil: bool) -> Restarted: ...
    def pid(self, inst: Instance) -> int | None: ...


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ProcessBackend:
    def __init__(self, gil_env: Mapping[str, str]) -> None:
        self.gil_env = dict(gil_env)
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # reaped, so they never linger as zombies

    def environment(self, inst: Instance, *, gil: bool) -> dict[str, str]:
        env = dict(os.environ)
        for key in self.gil_env:  # normal mode: only what the instance itself declares
            env.pop(key, None)
        env.update(inst.env)
        if gil:
            env.update(self.gil_env)
        env[FTPROXY_INSTANCE] = inst.name
        env.setdefault(PYTHONUNBUFFERED, "1")
        return env

    def plan(self, inst: Instance, *, gil: bool) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.gil_env.items()) + " " if gil else ""
        pid = self.pid(inst)
        stop = f"SIGTERM pid {pid} (drain, at most {inst.control.stop_timeout_s:g} s), then " if pid else ""
        argv = inst.argv("on" if gil else None, self.environment(inst, gil=gil))
        return f"{stop}start `{extra}{' '.join(argv)}`"

    def pid(self, inst: Instance) -> int | None:
        assert inst.control.pid_file is not None
        try:
            pid = int(inst.control.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid in self._children:
            self._children[pid].poll()
        return pid if _alive(pid) else None

    def stop(self, inst: Instance) -> str:
        pid = self.pid(inst)
        if pid is None:
            return "was not running"
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        if self._wait_gone(pid, inst.control.stop_timeout_s):
            return f"pid {pid} drained and exited in {time.monotonic() - started:.2f} s"
        os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, 10.0):
            raise BackendError(f"{inst.name}: pid {pid} survived SIGTERM and SIGKILL")
        return f"pid {pid} did not finish draining within {inst.control.stop_timeout_s:g} s: killed"

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if pid in self._children and self._children[pid].poll() is not None:
                del self._children[pid]
                return True
            if not _alive(pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)  # poll interval; the deadline bounds the wait

    def start(self, inst: Instance, *, gil: bool) -> Restarted:
        control = inst.control
        assert control.pid_file is not None and control.log_file is not None
        control.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = self.environment(inst, gil=gil)
        argv = inst.argv("on" if gil else None, env)
        with open(control.log_file, "ab") as log:
            log.write(f"--- ftproxy.deploy: starting {inst.name} (GIL mode: {gil}): {argv}\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives this command; no terminal signals
                )
            except OSError as exc:
                raise BackendError(f"{inst.name}: cannot start {argv[0]!r}: {exc}") from exc
        self._children[child.pid] = child
        write_atomically(control.pid_file, f"{child.pid}\n")
        env_note = " with " + " ".join(f"{k}={v}" for k, v in self.gil_env.items()) if gil else ""
        return Restarted(child.pid, f"started pid {child.pid}{env_note}")

    def restart(self, inst: Instance, *, gil: bool) -> Restarted:
        stopped = self.stop(inst)
        started = self.start(inst, gil=gil)
        return Restarted(started.pid, f"{stopped}; {started.detail}")


class SystemdBackend:
    def __init__(self, gil_env: Mapping[str, str], runner: Runner = run_command) -> None:
        self.gil_env = {**gil_env, FTPROXY_GIL: "on"}
        self.runner = runner

    @staticmethod
    def dropin(inst: Instance) -> Path:
        assert inst.control.unit is not None
        return inst.control.dropin_dir / f"{inst.control.unit}.d" / DROPIN_NAME

    def dropin_text(self) -> str:
        pairs = " ".join(f'"{k}={v}"' for k, v in self.gil_env.items())
        return (
            "# Written by `python -m ftproxy.deploy rollback`; removed by `promote`.\n"
            f"[Service]\nEnvironment={pairs}\n"
        )

    def _systemctl(self, inst: Instance, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*inst.control.systemctl, *args]
        result = self.runner(argv)
        if result.returncode != 0:
            raise BackendError(f"`{' '.join(argv)}` failed: {(result.stderr or result.stdout).strip()}")
        return result

    def plan(self, inst: Instance, *, gil: bool) -> str:
        what = (
            f"write {self.dropin(inst)} ({self.dropin_text().splitlines()[-1]})"
            if gil
            else (f"remove {self.dropin(inst)}")
        )
        ctl = " ".join(inst.control.systemctl)
        return f"{what}; {ctl} daemon-reload; {ctl} restart {inst.control.unit}"

    def restart(self, inst: Instance, *, gil: bool) -> Restarted:
        path = self.dropin(inst)
        if gil:
            write_atomically(path, self.dropin_text())
        else:
            path.unlink(missing_ok=True)
        self._systemctl(inst, "daemon-reload")
        self._systemctl(inst, "restart", str(inst.control.unit))  # SIGTERM, drain, start
        pid = self.pid(inst)
        return Restarted(
            pid, f"{'wrote' if gil else 'removed'} {path}; restarted {inst.control.unit} (pid {pid})"
        )

    def start(self, inst: Instance, *, gil: bool) -> Restarted:
        self._systemctl(inst, "start", str(inst.control.unit))
        return Restarted(self.pid(inst), f"started {inst.control.unit}")

    def pid(self, inst: Instance) -> int | None:
        try:
            out = self._systemctl(inst, "show", "--property", "MainPID", "--value", str(inst.control.unit))
        except BackendError:
            return None
        text = out.stdout.strip()
        return int(text) if text.isdigit() and int(text) > 0 else None


class Backends:
    """One backend object per kind, shared by all instances (the process one keeps its children)."""

    def __init__(self, gil_env: Mapping[str, str], runner: Runner = run_command) -> None:
        self.process = ProcessBackend(gil_env)
        self.systemd = SystemdBackend(gil_env, runner)

    def __call__(self, inst: Instance) -> Backend:
        return self.systemd if inst.control.backend == "systemd" else self.process
