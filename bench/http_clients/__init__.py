"""Which HTTP client should ftproxy use upstream? Measured, not guessed (issue 11, item 2).

`python -m bench.http_clients [--quick] [--python PATH ...] [--output DIR] [--candidates a,b]
[--wheel-check] [--proxy-check]`

Every candidate does what ftproxy does upstream: POST a ~1 kB JSON chat body to a local
upstream on 127.0.0.1 and read a ~1 kB JSON answer over keep-alive connections. Two cells:

* `single`: 1 thread, zero-latency upstream: CPU ms per call and calls/s (the cost floor);
* `c64`: 64 threads, 20 ms upstream latency: req/s, CPU ms per call and p99 latency (the
  shape of a busy gateway: many threads, each mostly waiting).

CPU per call is the client process's CPU time (all its threads, Rust runtimes included) over
the calls completed in the measured window. The upstream is a tiny asyncio server of this
module rather than `ftproxy simulate`: the simulator's own CPU (auth, routing, answers) would
compete with the client for the machine and it is not what is being measured here. The upstream
is pinned to CPU 1 and the client process to CPU 0 when both exist. Each cell runs `--repeats`
times (interleaved across candidates, so a noisy neighbour hurts all alike) and the median of
each figure is reported.

With `--python PATH`, each interpreter gets a throwaway venv under `--venvs` (outside the repo)
with ftproxy and each third-party candidate installed from wheels only; a candidate without a
wheel for that interpreter (e.g. no cp314t wheel) is reported as such, never fatal. Without
`--python`, the current interpreter runs whatever candidates it can import. `--wheel-check`
reads what each candidate's cp314t wheel declares about the GIL; `--proxy-check` tests whether
it honours HTTP(S)_PROXY and NO_PROXY. The figures and the choice: docs/architecture.md.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA = "ftproxy-http-clients"
