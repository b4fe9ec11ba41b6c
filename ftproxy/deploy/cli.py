"""`python -m ftproxy.deploy COMMAND`: the canary tooling (see ftproxy/deploy/__init__.py).

Exit statuses: 0 done, 1 a step failed (the message says which and why), 2 the YAML is invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ftproxy.deploy.kubernetes import CANARY_IMAGE, STANDARD_IMAGE
from ftproxy.environment import FTPROXY_DEPLOY_PROG, FTPROXY_ROUTING
from ftproxy.errors import ConfigError

DEFAULT_CONFIG = "deploy/traffic_routing.yaml"
OTHER_COMMANDS = (
    "The same tooling has other commands: status (weights, health, GIL state, last rollback), "
    "promote (reverse a rollback), watch (canary analysis; rolls back after bad windows), route, "
    "check, start. Each takes --help."
)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the subcommands to any argparse subparsers (also usable from `ftproxy` itself)."""

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=help, epilog=OTHER_COMMANDS)
        p.add_argument(
            "--config",
            default=os.environ.get(FTPROXY_ROUTING, DEFAULT_CONFIG),
            help=f"the routing YAML (default: ${FTPROXY_ROUTING}, else {DEFAULT_CONFIG})",
        )
        return p

    command("check", help="validate the routing YAML").set_defaults(run=_check)
    route = command("route", help="render the nginx config, or apply it (nginx -t, then reload)")
    route.add_argument("action", choices=["render", "apply"])
    route.add_argument(
        "--start-if-stopped", action="store_true", help="apply: start nginx if it is not running"
    )
    route.set_defaults(run=_route)
    render = command("render", help="print the nginx config or the Kubernetes manifests for the YAML")
    render.add_argument("target", choices=["nginx", "kubernetes"])
    _traffic_option(render)
    render.add_argument(
        "--gateway", default="ftproxy-gateway", help="kubernetes: the HTTPRoute's parent Gateway"
    )
    render.add_argument("--image-standard", default=STANDARD_IMAGE, help="kubernetes: the GIL image")
    render.add_argument("--image-canary", default=CANARY_IMAGE, help="kubernetes: the free-threaded image")
    render.add_argument(
        "--flagger", action="store_true", help="kubernetes: add the Flagger Canary and MetricTemplates"
    )
    render.set_defaults(run=_render)
    rb = command(
        "rollback", help="emergency rollback: traffic off the canary, canary to the GIL, verify, notify"
    )
    rb.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    rb.add_argument(
        "--reason",
        default="manual emergency rollback",
        help="why, recorded with the timestamps in the state and log files and sent with the "
        "notification (default: 'manual emergency rollback')",
    )
    _target_options(rb)
    rb.set_defaults(run=_rollback)
    pr = command("promote", help="reverse a rollback: canary back to its GIL setting and its weight")
    pr.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    pr.add_argument(
        "--reason", default="manual promote", help="why, recorded and notified (default: 'manual promote')"
    )
    _target_options(pr)
    pr.set_defaults(run=_promote)
    command(
        "status", help="weights, health, GIL state of every instance, and the last rollback"
    ).set_defaults(run=_status)
    w = command("watch", help="canary analysis from /metrics; rolls back after N bad windows")
    w.add_argument("--window-seconds", type=float, help="window length (default: analysis.window_seconds)")
    w.add_argument("--max-windows", type=int, default=10, help="stop after this many windows (default 10)")
    w.add_argument("--failed-windows", type=int, help="bad windows in a row that trigger the rollback")
    w.add_argument("--dry-run", action="store_true", help="report only; never roll back")
    w.set_defaults(run=_watch)
    st = command("start", help="start the instances that are not running (process backend), in their mode")
    st.set_defaults(run=_start)


def _traffic_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--traffic",
        choices=["ingress", "gateway"],
        default="ingress",
        help="kubernetes: the 80/20 split as ingress-nginx canary annotations or a Gateway API HTTPRoute",
    )


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target",
        choices=["nginx", "kubernetes"],
        default="nginx",
        help="nginx + the instances' backends (default), or the Kubernetes objects of `render kubernetes`",
    )
    _traffic_option(p)
    p.add_argument("--namespace", help="kubernetes: kubectl -n (default: kubectl's current namespace)")
    p.add_argument("--kubectl", default="kubectl", help="kubernetes: the kubectl executable")


def main(argv: Sequence[str] | None = None) -> int:
    prog = os.environ.get(FTPROXY_DEPLOY_PROG) or "python -m ftproxy.deploy"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_commands(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    from ftproxy.deploy import reading

    try:
        deployment = reading.load(args.config)
    except ConfigError as exc:
        print(f"ftproxy.deploy: configuration error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name != "yaml":
            raise
        print(
            f"ftproxy.deploy: PyYAML is not installed for {sys.executable}, and the routing file is YAML: "
            f"run {sys.executable} -m pip install 'ftproxy[deploy]' (or pyyaml)",
            file=sys.stderr,
        )
        return 2
    try:
        return int(args.run(deployment, args))
    except (RuntimeError, OSError) as exc:  # router, backend and step errors: one clear line, no traceback
        print(f"ftproxy.deploy: {args.run.__name__.strip('_')} failed: {exc}", file=sys.stderr)
        return 1


def _check(deployment, args) -> int:  # type: ignore[no-untyped-def]
    total = sum(i.weight for i in deployment.instances) or 1
    print(f"{deployment.source}: OK")
    for i in deployment.instances:
        print(
            f"  {i.name:14} {i.role:8} {i.address:22} weight {i.weight:>4} ({100 * i.weight / total:.0f}%) "
            f"{i.interpreter} [{i.control.backend}, monitoring {i.monitoring}]"
        )
    return 0


def _route(deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy import nginx
    from ftproxy.deploy.state import State

    state = State(deployment.rollback.state_file)
    if args.action == "render":
        sys.stdout.write(nginx.render(deployment, state))
        return 0
    result = nginx.apply(deployment, state, start_if_stopped=args.start_if_stopped)
    print(result.detail)
    return 0


def _render(deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy import manifests, nginx
    from ftproxy.deploy.state import State

    state = State(deployment.rollback.state_file)
    if args.target == "nginx":
        sys.stdout.write(nginx.render(deployment, state))
        return 0
    from ftproxy.deploy.kubernetes import Images

    images = Images(standard=args.image_standard, canary=args.image_canary)
    text = manifests.render(
        deployment,
        state,
        traffic=args.traffic,
        gateway=args.gateway,
        images=images,
        with_flagger=args.flagger,
    )
    sys.stdout.write(text)
    return 0


def _on_kubernetes(action: str, deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy import kubectl

    tool = kubectl.Kubectl(args.kubectl, args.namespace)
    return kubectl.operate(
        action, deployment, reason=args.reason, dry_run=args.dry_run, traffic=args.traffic, kubectl=tool
    )


def _rollback(deployment, args) -> int:  # type: ignore[no-untyped-def]
    if args.target == "kubernetes":
        return _on_kubernetes("rollback", deployment, args)
    from ftproxy.deploy.operations import rollback

    return rollback(deployment, reason=args.reason, dry_run=args.dry_run)


def _promote(deployment, args) -> int:  # type: ignore[no-untyped-def]
    if args.target == "kubernetes":
        return _on_kubernetes("promote", deployment, args)
    from ftproxy.deploy.operations import promote

    return promote(deployment, reason=args.reason, dry_run=args.dry_run)


def _status(deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy.operations import status

    return status(deployment)


def _watch(deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy.watcher import watch

    return watch(
        deployment,
        window_seconds=args.window_seconds,
        max_windows=args.max_windows,
        failed_windows=args.failed_windows,
        dry_run=args.dry_run,
    )


def _start(deployment, args) -> int:  # type: ignore[no-untyped-def]
    from ftproxy.deploy.backends import Backends
    from ftproxy.deploy.state import State

    state = State(deployment.rollback.state_file)
    backends = Backends(deployment.rollback.gil_env)
    for inst in deployment.instances:
        backend = backends(inst)
        pid = backend.pid(inst)
        if pid is not None:
            print(f"{inst.name}: already running (pid {pid})")
            continue
        started = backend.start(inst, gil=state.mode(inst.name) == "gil")
        print(f"{inst.name}: {started.detail}")
    return 0
