"""The `ftproxy` command: serve, simulate, check-config, info, and `deploy …` (canary tooling)."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ftproxy import __version__, runtime
from ftproxy.config import load_config
from ftproxy.errors import ConfigError
from ftproxy.settings import Config


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["deploy"]:
        # Its own parser, imported only here: it reads YAML, which the serving path never imports.
        from ftproxy.deploy.cli import main as deploy_main

        return deploy_main(arguments[1:])
    parser = _parser()
    args, extra = parser.parse_known_args(arguments)
    if extra:  # the command's own usage, not the top level's, and the option probably meant
        _unrecognized(parser, args.command, extra)
    try:
        return args.run(args)
    except ConfigError as exc:
        for mistake in exc.mistakes:
            print(f"ftproxy: configuration error: {mistake}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    from ftproxy import simulator
    from ftproxy.serve.plan import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS, DEFAULT_THREADS

    parser = argparse.ArgumentParser(prog="ftproxy", description="LLM gateway for SAP AI Core")
    parser.add_argument("--version", action="version", version=f"ftproxy {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    serve = commands.add_parser("serve", help="run the proxy")
    source = serve.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        help="config.json (default: $FTPROXY_CONFIG, ./config.json, else a service key in the environment: "
        "AICORE_SERVICE_KEY …, see README)",
    )
    source.add_argument(
        "--demo", action="store_true", help="no credentials: serve the built-in simulator's models"
    )
    serve.add_argument("--host", help="listen address (default: the config's host, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: the config's port, else 3001)")
    serve.add_argument(
        "--workers",
        type=int,
        help="workers: processes (GIL build, Gunicorn) or threads (free-threaded Granian); default: one "
        "per usable core (`ftproxy info` shows it)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        help="request threads per worker; each in-flight request and each open stream holds one "
        f"(default {DEFAULT_THREADS})",
    )
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with a process already listening on it (default: refuse to start)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        metavar="SECONDS",
        help="a client must send its request line and headers within this time "
        f"(default {DEFAULT_HEADER_TIMEOUT_S:g} s)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help=f"connections per worker at once (default {DEFAULT_MAX_CONNECTIONS}, "
        "within the open-file limit)",
    )
    serve.add_argument(
        "--gil",
        choices=["auto", "on", "off"],
        default="auto",
        help="auto: as the interpreter runs (PYTHON_GIL, -X gil); on/off: re-run with -X gil=1/0 if "
        "needed (off needs a free-threaded build). Default auto",
    )
    serve.add_argument(
        "--server",
        choices=["auto", "granian", "gunicorn"],
        default="auto",
        help="auto: Granian, or Gunicorn when a free-threaded build runs with the GIL on. Default auto",
    )
    serve.add_argument(
        "--on-gil-reenabled",
        choices=["fail", "fallback"],
        default="fail",
        help="when an import switches the GIL back on at start-up: fail (default), or fall back to "
        "Gunicorn with the GIL on",
    )
    serve.add_argument(
        "--drain-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, answer /ready with 503 this long before stopping to accept (default 0)",
    )
    serve.add_argument(
        "--drain-timeout",
        type=int,
        default=30,
        metavar="SECONDS",
        help="then wait at most this long for in-flight requests and streams (default 30)",
    )
    serve.add_argument(
        "--dry-run", action="store_true", help="print how ftproxy would serve (the GIL switch) and exit"
    )
    serve.set_defaults(run=_serve)

    simulate = commands.add_parser("simulate", help="run the SAP AI Core simulator")
    simulator.add_arguments(simulate)
    simulate.set_defaults(run=_simulate)

    check = commands.add_parser(
        "check-config", help="validate a config file (or the environment's service key) and exit"
    )
    check.add_argument(
        "config",
        nargs="?",
        help="config.json (default: $FTPROXY_CONFIG, ./config.json, else the environment)",
    )
    check.set_defaults(run=_check_config)

    commands.add_parser(
        "deploy", help="canary tooling: check, route, rollback, promote, status, watch (docs/canary.md)"
    )
    info = commands.add_parser("info", help="print the interpreter facts that decide how ftproxy serves")
    info.add_argument(
        "--config",
        metavar="PATH",
        help="also list the models this config serves: family, route (direct or orchestration), "
        "subaccounts (runs one bounded discovery against AI Core when the config discovers)",
    )
    info.set_defaults(run=_info)
    return parser


def _unrecognized(parser: argparse.ArgumentParser, command: str, extra: Sequence[str]) -> NoReturn:
    """Exits with the command's usage, naming the arguments it does not know and the options
    that are a near miss of them (`--prot` → `--port`)."""
    chosen = _subcommands(parser)[command]
    options = [o for action in chosen._actions for o in action.option_strings]
    message = f"unrecognized arguments: {' '.join(extra)}"
    for word in extra:
        meant = difflib.get_close_matches(word.split("=", 1)[0], options, n=1) if word.startswith("-") else []
        if meant:
            message += f"; did you mean {meant[0]} (instead of {word})?"
    chosen.error(message)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _serve(args: argparse.Namespace) -> int:
    from ftproxy.serve.launch import dry_run, installed_servers, serve, switch_gil_if_asked
    from ftproxy.serve.plan import LaunchError, ServeOptions

    def options(path: str, host: str, port: int) -> ServeOptions:
        return ServeOptions(
            path,
            host,
            port,
            workers=args.workers,
            threads=args.threads,
            gil=args.gil,
            server=args.server,
            on_gil_reenabled=args.on_gil_reenabled,
            drain_delay_s=args.drain_delay,
            drain_timeout_s=args.drain_timeout,
            reuse_port=args.reuse_port,
            header_timeout_s=args.header_timeout,
            max_connections=args.max_connections,
        )

    try:
        if args.demo:
            from ftproxy.demo import demo_banner, demo_config

            host, port = args.host or "127.0.0.1", args.port or 3001
            if args.dry_run:  # no simulator: only the decision is wanted
                return dry_run(options("(demo: generated at start-up)", host, port), check_config=False)
            switch_gil_if_asked(options("(demo)", host, port))  # before the simulator starts
            if "granian" not in installed_servers():  # the simulator is an RSGI app: Granian only
                raise LaunchError(
                    f"the demo's simulator runs on Granian, which is not installed for this interpreter: "
                    f"run {sys.executable} -m pip install granian, or serve a real config (--config), "
                    "which Gunicorn can serve"
                )
            if not args.reuse_port:  # refuse a busy port before starting the demo's simulator
                from ftproxy.serve import ports

                try:
                    ports.check_free(host, port)
                except ports.PortBusy as exc:
                    raise LaunchError(str(exc)) from None
            with demo_config(host=host, port=port) as path:
                print(demo_banner(path, host, port), file=sys.stderr, flush=True)
                return serve(options(str(path), host, port))
        path, config = _configured(args.config)
        if config is None:
            return 2
        chosen = options(path, args.host or config.host, args.port or config.port)
        return dry_run(chosen) if args.dry_run else serve(chosen)
    except LaunchError as exc:
        print(f"ftproxy: cannot start: {exc}", file=sys.stderr)
        return 3


def _simulate(args: argparse.Namespace) -> int:
    from ftproxy import simulator

    simulator.serve(simulator.settings_from_args(args))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    path, config = _configured(args.config)
    if config is None:
        return 2
    models = ", ".join(config.models) or "none listed"
    found = " (and those discovered from AI Core at start-up)" if config.discovers else ""
    print(f"{path}: OK: {len(config.subaccounts)} subaccount(s), models: {models}{found}")
    return 0


def _configured(explicit: str | None) -> tuple[str, Config | None]:
    """The config to serve and where it is (a path, or the environment: its provenance is
    printed), or None once the "no configuration" message is printed. Raises ConfigError."""
    from pathlib import Path

    from ftproxy import config_env

    home = Path.home()
    path = config_env.choose_source(explicit, os.environ, home, Path.cwd())
    if path == config_env.ENVIRONMENT:
        found = config_env.from_environment(os.environ, home)
        if found is not None:
            print("\n".join(found.lines()), file=sys.stderr, flush=True)
            return path, found.config
    elif path is not None:
        config = load_config(path)
        if unread := config_env.not_read_with_a_file(os.environ):
            print(
                f"ftproxy: note: {path} is used, not {', '.join(unread)} from the environment",
                file=sys.stderr,
            )
        return path, config
    print(
        "ftproxy: no configuration: pass --config PATH, or export AICORE_SERVICE_KEY='<service key "
        "JSON>' and FTPROXY_API_KEYS=<client keys, comma-separated> (see README), or --demo to try "
        "ftproxy against the built-in SAP AI Core simulator",
        file=sys.stderr,
    )
    return "", None


def _info(args: argparse.Namespace) -> int:
    from ftproxy.serve.plan import ServeOptions, machine_defaults, usable_cpus, what_if

    print(runtime.current().describe())
    cpus = usable_cpus()
    workers, threads = machine_defaults(cpus)
    print(
        f"usable cores: {cpus}; defaults sized to them: {workers} worker(s) x {threads} threads "
        f"= {workers * threads} concurrent requests or streams (--workers/--threads override)"
    )
    print("`ftproxy serve` (default options) would serve with:")
    for label, answer in what_if(ServeOptions("config.json", "127.0.0.1", 3001)):
        print(f"  {label + ':':28} {answer}")
    if args.config:
        from ftproxy import inventory

        print(f"models served by {args.config}:")
        for line in inventory.lines(inventory.take(load_config(args.config))):
            print(f"  {line}")
    return 0
