"""`python -m ftproxy.simulator [flags]`: the same flags as `ftproxy simulate`."""

from __future__ import annotations

import argparse

from ftproxy.simulator import add_arguments, serve, settings_from_args


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ftproxy.simulator",
        description="Run the SAP AI Core simulator (see ftproxy.simulator).",
    )
    add_arguments(parser)
    serve(settings_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
