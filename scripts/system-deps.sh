#!/usr/bin/env bash
# The Debian packages the test suite uses beside Python: promtool (package prometheus) checks
# /metrics, nginx routes the canary tests, wrk drives the benchmark harness, valgrind (callgrind)
# counts the per-core scenario's instructions per request.
#
#   scripts/system-deps.sh              best effort: installs what is missing when it can (root
#                                       with apt-get), otherwise says so; those tests then skip
#   scripts/system-deps.sh --required   fails when something is still missing (CI)
set -euo pipefail
required=0
[ "${1:-}" = "--required" ] && required=1
say() { printf '[system-deps] %s\n' "$*" >&2; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v callgrind_control >/dev/null 2>&1 || missing+=(valgrind)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: prometheus would otherwise pull in its web UI and exporters.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's nginx package may start its own server on port 80: the tests run their own.
  if [ -s /run/nginx.pid ]; then /usr/sbin/nginx -s quit || true; fi
  exit 0
fi
say "missing: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
if [ "$required" = 1 ]; then exit 1; fi
say "the tests that need them will be skipped"
