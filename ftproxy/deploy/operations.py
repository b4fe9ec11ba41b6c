"""Emergency rollback, promote and status.

Rollback, in four steps, each printed with its wall-clock time and its offset from the start:
  1. traffic off the canary: it is rendered `down` and nginx reloads (never restarts); the step
     ends when nginx's old workers stopped accepting, so no new request can reach the canary;
  2. the canary is restarted with the GIL on (rollback.gil_env, i.e. PYTHON_GIL=1, and
     `--gil on`): SIGTERM makes it drain its in-flight streams, then it starts in GIL mode;
  3. every instance's health URL must answer 200, and the canary's /metrics must show
     `python_gil_enabled 1`;
  4. what was done, with timestamps, goes to the state file and the log file, and to the webhook
     when one is configured.
It is idempotent: a step whose result is already in place (state file + live check) is skipped.
`--dry-run` prints the plan and changes nothing. A failing step stops the run, is recorded and
notified, and the exit status is 1 with the reason.

Promote is the reverse: restart the canary in normal mode while it takes no traffic, verify it
(a free-threaded canary must then run with the GIL off), put its weight back, record, notify.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

import httpx

from ftproxy.deploy import metrics, nginx
from ftproxy.deploy.backends import Backends
from ftproxy.deploy.model import Deployment, Instance
from ftproxy.deploy.state import State, append_log, now_iso


class StepFailed(RuntimeError):
    pass


class Steps:
    """Prints every step with its time; keeps the record written to the state and log files."""

    def __init__(self, action: str, total: int, out: TextIO) -> None:
        self.action = action
        self.total = total
        self.out = out
        self.started = time.monotonic()
        self.started_at = now_iso()
        self.records: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        print(f"[{stamp} +{time.monotonic() - self.started:7.3f}s] {text}", file=self.out, flush=True)

    def run(self, number: int, title: str, action: Callable[[], str]) -> str:
        self.say(f"step {number}/{self.total} {title} ...")
        t0, at = time.monotonic(), now_iso()
        record: dict[str, Any] = {"step": number, "title": title, "started_at": at}
        try:
            detail = action()
        except Exception as exc:
            record.update(ok=False, duration_s=round(time.monotonic() - t0, 3), detail=str(exc))
            self.records.append(record)
            self.say(f"step {number}/{self.total} FAILED after {time.monotonic() - t0:.3f} s: {exc}")
            raise StepFailed(f"step {number} ({title}) failed: {exc}") from exc
        record.update(ok=True, duration_s=round(time.monotonic() - t0, 3), detail=detail)
        self.records.append(record)
        self.say(f"step {number}/{self.total} done in {time.monotonic() - t0:.3f} s: {detail}")
        return detail

    def summary(self, ok: bool, reason: str, error: str | None = None) -> dict[str, Any]:
        return {
            "action": self.action,
            "ok": ok,
            "reason": reason,
            "error": error,
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "duration_s": round(time.monotonic() - self.started, 3),
            "host": socket.gethostname(),
            "steps": self.records,
        }


# ---- health ----


def ready(inst: Instance, timeout_s: float = 2.0) -> tuple[int | None, str]:
    try:
        reply = httpx.get(inst.health_url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    try:
        status = str(reply.json().get("status", ""))
    except ValueError:
        status = reply.text[:40]
    return reply.status_code, status


def wait_ready(insts: list[Instance], timeout_s: float) -> dict[str, str]:
    """Polls every health URL until all answer 200; raises naming the ones that did not."""
    deadline = time.monotonic() + timeout_s
    pending = {i.name: i for i in insts}
    last: dict[str, str] = {}
    while pending:
        for name, inst in list(pending.items()):
            code, status = ready(inst)
            last[name] = f"{code} {status}"
            if code == 200:
                del pending[name]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise StepFailed(
                "not ready within "
                f"{timeout_s:g} s: " + ", ".join(f"{n} ({pending[n].health_url}: {last[n]})" for n in pending)
            )
        time.sleep(0.05)  # poll interval; the deadline bounds the wait
    return last


def gil_state(inst: Instance) -> tuple[bool | None, bool | None]:
    """(GIL enabled, free-threaded build) from the instance's /metrics; None when unknown."""
    try:
        snap = metrics.scrape(inst.metrics_url)
    except httpx.HTTPError:
        return None, None
    gil = snap.gauges.get("python_gil_enabled")
    ft = snap.gauges.get("python_free_threaded_build")
    return (None if gil is None else gil == 1), (None if ft is None else ft == 1)


def notify(deployment: Deployment, record: dict[str, Any], out: TextIO) -> str:
    settings = deployment.rollback
    append_log(settings.log_file, record)
    line = (
        f"ftproxy.deploy: {record['action']} {'succeeded' if record['ok'] else 'FAILED'} in "
        f"{record['duration_s']:.3f} s ({record['reason']})"
    )
    print(line, file=sys.stderr, flush=True)
    if not settings.webhook_url:
        return f"logged to {settings.log_file}"
    try:
        reply = httpx.post(
            settings.webhook_url,
            json={"event": f"ftproxy.{record['action']}", "text": line, **record},
            timeout=settings.webhook_timeout_s,
        )
        reply.raise_for_status()
    except httpx.HTTPError as exc:
        raise StepFailed(
            f"logged to {settings.log_file}, but the webhook {settings.webhook_url} failed: {exc}"
        ) from exc
    return f"logged to {settings.log_file}; webhook answered {reply.status_code}"


class _Start(NamedTuple):
    backends: Backends
    state: State
    canaries: tuple[Instance, ...]
    steps: Steps


def _start(
    deployment: Deployment,
    action: str,
    verb: str,
    backends: Backends | None,
    runner: nginx.Runner,
    out: TextIO,
) -> _Start | None:
    """What rollback and promote both begin with: the backends, the state and the four-step
    printer; None (after saying so) when no canary is declared, so there is nothing to `verb`."""
    backends = backends or Backends(deployment.rollback.gil_env, runner)
    state = State(deployment.rollback.state_file)
    steps = Steps(action, 4, out)
    if not deployment.canaries:
        steps.say(f"no canary instance is declared: nothing to {verb}")
        return None
    return _Start(backends, state, deployment.canaries, steps)


def _dry(dry_run: bool) -> str:
    return " — DRY RUN, nothing is changed" if dry_run else ""


# ---- rollback ----


def rollback(
    deployment: Deployment,
    *,
    reason: str = "manual",
    dry_run: bool = False,
    backends: Backends | None = None,
    runner: nginx.Runner = nginx.run_command,
    out: TextIO = sys.stdout,
) -> int:
    """Traffic off the canary, restart it with the GIL on, verify, record (module docstring)."""
    if not (started := _start(deployment, "rollback", "roll back", backends, runner, out)):
        return 0
    backends, state, canaries, steps = started
    steps.say(f"emergency rollback of {', '.join(c.name for c in canaries)} ({reason}){_dry(dry_run)}")
    if dry_run:
        return _rollback_plan(deployment, state, backends, steps)

    def route_away() -> str:
        already = all(not state.routed(c.name) for c in canaries)
        for c in canaries:
            state.update_instance(c.name, routed=False)
        result = nginx.apply(deployment, state, runner=runner, force_reload=not already)
        state.save()
        return result.detail + ("; the canary was already out of rotation" if already else "")

    def restart_with_gil() -> str:
        details = []
        for c in canaries:
            backend = backends(c)
            if state.mode(c.name) == "gil" and backend.pid(c) is not None and ready(c)[0] == 200:
                details.append(f"{c.name} already runs in GIL mode (pid {backend.pid(c)}): not restarted")
                continue
            restarted = backend.restart(c, gil=True)
            state.update_instance(c.name, mode="gil", pid=restarted.pid)
            state.save()
            details.append(f"{c.name}: {restarted.detail}")
        return "; ".join(details)

    def verify() -> str:
        seen = wait_ready(list(deployment.instances), deployment.rollback.health_timeout_s)
        notes = []
        for c in canaries:
            gil, ft = gil_state(c)
            if gil is not True:
                raise StepFailed(f"{c.name} is ready but its /metrics shows python_gil_enabled={gil}, not 1")
            notes.append(f"{c.name} GIL on ({'free-threaded' if ft else 'GIL'} build)")
        return "all ready (" + ", ".join(f"{n}: {s}" for n, s in seen.items()) + "); " + "; ".join(notes)

    plan = [
        (1, "traffic off the canary (nginx reload)", route_away),
        (2, "restart the canary with the GIL on (drain, PYTHON_GIL=1, --gil on)", restart_with_gil),
        (3, "verify the health of every instance", verify),
    ]
    return _run(deployment, state, steps, reason, plan)


def _run(
    deployment: Deployment,
    state: State,
    steps: Steps,
    reason: str,
    plan: list[tuple[int, str, Callable[[], str]]],
) -> int:
    """Runs the steps, then records (`last_rollback` / `last_promote` in the state file) and notifies."""
    key, out = f"last_{steps.action}", steps.out
    error = None
    try:
        for number, title, action in plan:
            steps.run(number, title, action)
    except StepFailed as exc:
        error = str(exc)
    record = steps.summary(error is None, reason, error)
    state.data[key] = record
    state.save()
    try:
        steps.run(len(plan) + 1, "record and notify", lambda: notify(deployment, record, out))
    except StepFailed as exc:
        error = error or str(exc)
    # The state file keeps the complete record, the notification step included.
    state.data[key] = {**steps.summary(error is None, reason, error), "started_at": record["started_at"]}
    state.save()
    if error:
        steps.say(f"{steps.action} FAILED: {error}")
        return 1
    steps.say(f"{steps.action} complete in {time.monotonic() - steps.started:.3f} s")
    return 0


def _rollback_plan(deployment: Deployment, state: State, backends: Backends, steps: Steps) -> int:
    r = deployment.router
    reload = " ".join(r.reload_command) if r.reload_command else f"SIGHUP to the master in {r.pid_file}"
    for c in deployment.canaries:
        line = nginx.server_line(r, c, routed=False)
        steps.say(
            f"step 1/4 would render `{line.split('#')[0].strip()}` into {r.config_path}, run "
            f"`{' '.join(nginx.check_command(r))}`, then reload ({reload})"
        )
        steps.say(f"step 2/4 would restart {c.name}: {backends(c).plan(c, gil=True)}")
    steps.say(
        f"step 3/4 would poll {', '.join(i.health_url for i in deployment.instances)} for 200, "
        f"at most {deployment.rollback.health_timeout_s:g} s, and check python_gil_enabled 1"
    )
    hook = f" and POST to {deployment.rollback.webhook_url}" if deployment.rollback.webhook_url else ""
    steps.say(
        f"step 4/4 would record to {deployment.rollback.state_file} and {deployment.rollback.log_file}{hook}"
    )
    return 0


# ---- promote ----


def promote(
    deployment: Deployment,
    *,
    reason: str = "manual",
    dry_run: bool = False,
    backends: Backends | None = None,
    runner: nginx.Runner = nginx.run_command,
    out: TextIO = sys.stdout,
) -> int:
    """Restart the canary in normal mode out of rotation, verify, route it back, record."""
    if not (started := _start(deployment, "promote", "promote", backends, runner, out)):
        return 0
    backends, state, canaries, steps = started
    steps.say(
        f"promote {', '.join(c.name for c in canaries)} back to its weight, GIL as configured{_dry(dry_run)}"
    )
    if dry_run:
        for c in canaries:
            steps.say(f"step 1/4 would restart {c.name} out of rotation: {backends(c).plan(c, gil=False)}")
        steps.say("step 2/4 would wait for its health URL and check its GIL state")
        steps.say(f"step 3/4 would render it with weight={c.weight} and reload nginx")
        steps.say(
            f"step 4/4 would record to {deployment.rollback.state_file} and {deployment.rollback.log_file}"
        )
        return 0

    def restart_normal() -> str:
        details = []
        for c in canaries:
            if state.mode(c.name) == "normal":
                details.append(f"{c.name} already runs in normal mode: not restarted")
                continue
            if state.routed(c.name):  # never restart an instance that takes traffic without draining it first
                state.update_instance(c.name, routed=False)
                nginx.apply(deployment, state, runner=runner, force_reload=True)
                state.save()
            restarted = backends(c).restart(c, gil=False)
            state.update_instance(c.name, mode="normal", pid=restarted.pid)
            state.save()
            details.append(f"{c.name}: {restarted.detail}")
        return "; ".join(details)

    def verify() -> str:
        seen = wait_ready(list(canaries), deployment.rollback.health_timeout_s)
        notes = []
        for c in canaries:
            gil, ft = gil_state(c)
            if ft and gil and c.gil != "on":
                raise StepFailed(f"{c.name} is a free-threaded build but still runs with the GIL on")
            notes.append(
                f"{c.name}: {seen[c.name]}, GIL {'on' if gil else 'off'} "
                f"({'free-threaded' if ft else 'GIL'} build)"
            )
        return "; ".join(notes)

    def route_back() -> str:
        for c in canaries:
            state.update_instance(c.name, routed=True)
        result = nginx.apply(deployment, state, runner=runner)
        state.save()
        return result.detail

    plan = [
        (1, "restart the canary in normal mode, out of rotation", restart_normal),
        (2, "verify the canary", verify),
        (3, "traffic back to the canary (nginx reload)", route_back),
    ]
    return _run(deployment, state, steps, reason, plan)


# ---- status ----


def status(
    deployment: Deployment, *, runner: nginx.Runner = nginx.run_command, out: TextIO = sys.stdout
) -> int:
    backends = Backends(deployment.rollback.gil_env, runner)
    state = State(deployment.rollback.state_file)
    routed = {i.name: state.routed(i.name) and i.weight > 0 for i in deployment.instances}
    total = sum(i.weight for i in deployment.instances if routed[i.name]) or 1
    master = nginx.master_pid(deployment.router)
    print(
        f"router: nginx {'master pid ' + str(master) if master else 'NOT RUNNING'}, listening on "
        f"{deployment.router.listen}, config {deployment.router.config_path}",
        file=out,
    )
    header = (
        f"{'instance':14} {'role':8} {'address':22} {'weight':>6} {'share':>6} {'ready':14} {'GIL':4} "
        f"{'build':14} {'mode':7} pid"
    )
    print(header, file=out)
    for i in deployment.instances:
        code, text = ready(i)
        gil, ft = gil_state(i)
        share = f"{100 * i.weight / total:.0f}%" if routed[i.name] else "down"
        print(
            f"{i.name:14} {i.role:8} {i.address:22} {i.weight:>6} {share:>6} {f'{code} {text}':14} "
            f"{'?' if gil is None else ('on' if gil else 'off'):4} "
            f"{'?' if ft is None else ('free-threaded' if ft else 'GIL'):14} {state.mode(i.name):7} "
            f"{backends(i).pid(i) or '-'}",
            file=out,
        )
    for key in ("last_rollback", "last_promote"):
        rec = state.data.get(key)
        if rec:
            print(
                f"{key}: {'ok' if rec['ok'] else 'FAILED'} at {rec['started_at']} in {rec['duration_s']} s "
                f"({rec['reason']}){': ' + rec['error'] if rec.get('error') else ''}",
                file=out,
            )
    return 0
