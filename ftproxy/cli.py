"""The `ftproxy` command: serve, simulate, check-config, version."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ftproxy import __version__, runtime
from ftproxy.config import ConfigError, load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"ftproxy: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    from ftproxy import simulator

    parser = argparse.ArgumentParser(prog="ftproxy", description="LLM gateway for SAP AI Core")
    parser.add_argument("--version", action="version", version=f"ftproxy {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the proxy")
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--config", help="config.json (default: $FTPROXY_CONFIG, else ./config.json)")
    source.add_argument(
        "--demo", action="store_true", help="no credentials: serve the built-in simulator's models"
    )
    serve.add_argument("--host", help="listen address (default: the config's host, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: the config's port, else 3001)")
    serve.add_argument("--workers", type=int, default=1, help="Granian workers (default 1)")
    serve.add_argument("--threads", type=int, default=128, help="blocking threads per worker (default 128)")
    serve.set_defaults(run=_serve)

    simulate = commands.add_parser("simulate", help="run the SAP AI Core simulator")
    simulator.add_arguments(simulate)
    simulate.set_defaults(run=_simulate)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config")
    check.set_defaults(run=_check_config)

    info = commands.add_parser("info", help="print the interpreter facts that decide how ftproxy serves")
    info.set_defaults(run=_info)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from ftproxy.launcher import LaunchError, ServeOptions, serve

    try:
        if args.demo:
            from ftproxy.demo import demo_banner, demo_config

            host, port = args.host or "127.0.0.1", args.port or 3001
            with demo_config(host=host, port=port) as path:
                print(demo_banner(path, host, port), file=sys.stderr, flush=True)
                serve(ServeOptions(str(path), host, port, args.workers, args.threads))
            return 0
        path = args.config or os.environ.get("FTPROXY_CONFIG") or "config.json"
        if not args.config and not os.path.exists(path):
            print(
                "ftproxy: no configuration: pass --config PATH (see README), or --demo to try ftproxy "
                "against the built-in SAP AI Core simulator",
                file=sys.stderr,
            )
            return 2
        config = load_config(path)
        serve(
            ServeOptions(path, args.host or config.host, args.port or config.port, args.workers, args.threads)
        )
        return 0
    except LaunchError as exc:
        print(f"ftproxy: cannot start: {exc}", file=sys.stderr)
        return 3


def _simulate(args: argparse.Namespace) -> int:
    from ftproxy import simulator

    simulator.serve(simulator.settings_from_args(args))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: OK: {len(config.subaccounts)} subaccount(s), models: {', '.join(config.models)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(runtime.current().describe())
    return 0
