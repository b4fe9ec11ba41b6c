"""Canary routing and emergency rollback: `deploy/traffic_routing.yaml` made real.

    python -m ftproxy.deploy check     [--config deploy/traffic_routing.yaml]
    python -m ftproxy.deploy route render|apply
    python -m ftproxy.deploy rollback  [--dry-run] [--reason TEXT]
    python -m ftproxy.deploy promote   [--dry-run]
    python -m ftproxy.deploy status
    python -m ftproxy.deploy watch     [--window-seconds S] [--max-windows N] [--dry-run]
    python -m ftproxy.deploy start     (process backend: start every instance that is not running)

Modules: `model` (the YAML's value types), `reading` (loading and validating the YAML, errors
naming file, key and fix), `nginx` (rendering the upstream with weights and applying it: atomic
write, `nginx -t`, reload, then wait until the old workers stopped accepting), `backends` (how an
instance is restarted: `process` = pid file + start command, `systemd` = unit + environment
drop-in), `state` (the state/log file), `operations` (rollback, promote, status), `metrics` +
`watcher` (the canary watcher), `cli`.

PyYAML is imported only here (by `reading`), never on the server's import path: its C extension
could re-enable the GIL on a free-threaded build (SPEC §2).
"""
