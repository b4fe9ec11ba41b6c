#!/usr/bin/env bash
# Emergency rollback of the free-threaded canary (SPEC §8):
#   1. all traffic to the standard instances (nginx reload, never a restart);
#   2. the canary restarted with the GIL on (PYTHON_GIL=1, --gil on), draining its open streams;
#   3. health of every instance verified;
#   4. what was done recorded with timestamps (state + log file) and notified (log, webhook).
# Idempotent; prints the time of every step; exits non-zero with the reason when a step fails.
#
#   scripts/emergency_rollback.sh [--config deploy/traffic_routing.yaml] [--dry-run] [--reason TEXT]
#   scripts/emergency_rollback.sh status|promote|watch ...   (the same tooling, other commands)
#   scripts/emergency_rollback.sh [promote] --target kubernetes [--traffic ingress|gateway]
#       [--namespace NS] [--dry-run]   (kubectl: canary weight 0 via the ingress-nginx annotation
#       or the HTTPRoute, `kubectl set env deployment/ftproxy-canary PYTHON_GIL=1 ...` = a rolling
#       restart that drains through preStop, `kubectl rollout status`, readiness; see docs/canary.md)
#
# Environment: FTPROXY_ROUTING (the YAML, default deploy/traffic_routing.yaml),
# FTPROXY_PYTHON (the interpreter, default the repository's .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${FTPROXY_PYTHON:-$root/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
    echo "emergency_rollback: no interpreter at $python (create the .venv, or set FTPROXY_PYTHON)" >&2
    exit 1
fi
command="rollback"
case "${1:-}" in
    rollback|promote|status|watch|route|check|start) command="$1"; shift ;;
esac
cd "$root"
export FTPROXY_DEPLOY_PROG="scripts/emergency_rollback.sh"
exec "$python" -m ftproxy.deploy "$command" "$@"
