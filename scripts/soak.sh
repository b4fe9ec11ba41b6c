#!/usr/bin/env bash
# The soak run: a bounded mixed load against a proxy and the simulator, failing if the proxy
# worker's RSS, threads, open file descriptors or upstream connections keep growing after
# warm-up (tests/soak/test_soak.py says how that is decided).
#
#   scripts/soak.sh                 # 20 minutes (the default)
#   scripts/soak.sh 300             # 5 minutes
#   SOAK_REPORT=soak.json scripts/soak.sh 600   # also write the figures and samples as JSON
#
# FTPROXY_SOAK_CLIENTS sets the number of client threads (default 8).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-1200}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 12 ]; then
    echo "usage: scripts/soak.sh [SECONDS >= 12] (default 1200)" >&2
    exit 2
fi
if [ ! -x "$root/.venv/bin/python" ]; then
    "$root/scripts/bootstrap.sh" --test
fi
cd "$root"
export FTPROXY_SOAK_SECONDS="$seconds"
if [ -n "${SOAK_REPORT:-}" ]; then
    export FTPROXY_SOAK_REPORT="$(realpath -m "$SOAK_REPORT")"
fi
echo "soak: ${seconds} s of mixed load (FTPROXY_SOAK_SECONDS=${seconds})" >&2
exec "$root/.venv/bin/python" -m pytest -p no:cacheprovider -s -q tests/soak/test_soak.py -m soak
