#!/usr/bin/env bash
# The benchmark harness (SPEC §9, docs/benchmarks.md): GIL vs no-GIL, and ftproxy vs Gunicorn.
#
#   scripts/benchmark_free_threading.sh                 full run (~25 min on 2 cores)
#   scripts/benchmark_free_threading.sh --quick         < 3 min (what CI's smoke test runs)
#   scripts/benchmark_free_threading.sh --per-core      ~1 min: issue 25, most req/s on one core, instant upstream
#   scripts/benchmark_free_threading.sh --output DIR --python /opt/python3.14t/bin/python3.14t
#
# Thin entry point: makes sure .venv (scripts/bootstrap.sh), wrk, matplotlib and py-spy are there, then
# runs `python -m bench` with the arguments. The harness finds the interpreters itself
# (python3.14t first) and builds an isolated venv for each under .bench-venvs/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '[benchmark] %s\n' "$*" >&2; }
export FTPROXY_BENCH_PROG="scripts/benchmark_free_threading.sh"

# --help answers at once: nothing is installed for it (the harness's parser needs only the stdlib).
for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
    help_python="$root/.venv/bin/python"
    [ -x "$help_python" ] || help_python="$(command -v python3)"
    exec "$help_python" -m bench --help
  fi
done

"$root/scripts/bootstrap.sh"
python="$root/.venv/bin/python"

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing wrk (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  else
    say "wrk is required: install it (Debian/Ubuntu: sudo apt-get install wrk) and run again"; exit 2
  fi
fi

if ! "$python" -c 'import matplotlib' >/dev/null 2>&1; then
  say "installing the bench extra (matplotlib) into .venv"
  "$python" -m pip install --quiet -e "$root[bench]" >/dev/null 2>&1 || true
  "$python" -c 'import matplotlib' >/dev/null 2>&1 || "$python" -m pip install --quiet matplotlib \
    || say "warning: matplotlib could not be installed; the report will have no plots"
fi

# py-spy (a binary wheel from PyPI) takes the per-mode CPU profile; without it the report says so.
if [ ! -x "$root/.venv/bin/py-spy" ] && ! command -v py-spy >/dev/null 2>&1; then
  say "installing py-spy into .venv (CPU profiles)"
  "$python" -m pip install --quiet py-spy >/dev/null 2>&1 \
    || say "warning: py-spy could not be installed; the report will have no CPU profiles"
fi

exec "$python" -m bench "$@"
