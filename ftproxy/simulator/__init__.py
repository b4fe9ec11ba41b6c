"""A simulated SAP AI Core: OAuth, deployment listing and the GPT, Claude and Gemini inference APIs.

It speaks the real wire protocol (SPEC §5) with knobs for latency, time to first token, pace and
answer size, and fault injection (see `knobs` for the `[[sim:...]]` directives and `control` for
the /_sim API). Used by tests, the demo mode and the benchmarks:

    python -m ftproxy.simulator --port 8090
    with running_simulator(latency_ms=20) as base_url: ...   # ftproxy.simulator.testing
"""

from __future__ import annotations

from ftproxy.simulator import catalog
from ftproxy.simulator.server import serve
from ftproxy.simulator.settings import SimulatorSettings, add_arguments, settings_from_args

__all__ = ["SimulatorSettings", "add_arguments", "catalog", "serve", "settings_from_args"]
