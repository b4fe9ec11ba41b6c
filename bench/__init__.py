"""ftproxy's benchmark harness: GIL vs no-GIL, and ftproxy vs the alternatives, on one machine.

`python -m bench [--quick] [--output DIR] [--python PATH ...]` (or
`scripts/benchmark_free_threading.sh`) discovers the interpreters, builds an isolated venv for
each, starts the SAP AI Core simulator and ftproxy in every server mode, drives them with wrk and
a purpose-built streaming client, and writes `results.json`, `report.md` and PNG plots.

One concept per module: `discovery` (interpreters), `venvs`, `machine` (facts and pinning),
`processes` (simulator and servers), `monitor` (CPU/RSS sampling), `wrk` and `streams` (load),
`payloads`, `scenarios`, `cpu_profile` (py-spy), `runner` (the plan), `results` (schema), `criteria`,
`data_plane` (issue 11's data-plane targets), `report`, `plots`, `progress`. See docs/benchmarks.md.
"""

SCHEMA = "ftproxy-bench"
SCHEMA_VERSION = 2  # 2: issue 11's figures (CPU at c=1, profiles, both cores, data_plane[])
