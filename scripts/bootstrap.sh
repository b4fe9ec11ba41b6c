#!/usr/bin/env bash
# Creates (or refreshes) .venv at the repository root with the best interpreter available and
# installs ftproxy into it. Used by both quick-start commands; safe to run again: the stamp
# records what is installed, and it reinstalls only when the interpreter or pyproject.toml
# changed or an extra it needs is missing, then installs the union (so scripts/run after
# scripts/test, or the reverse, installs nothing).
#
#   scripts/bootstrap.sh            runtime only
#   scripts/bootstrap.sh --test     runtime + test tools (+ SAP's SDK for the contract tests)
#
# Interpreter choice, first match wins:
#   1. $PYTHON, when set (must be CPython >= 3.11)
#   2. python3.14t on PATH (free-threaded build)
#   3. a uv-managed 3.14t, when uv is installed and can fetch one
#   4. the newest CPython >= 3.11 found on PATH or under pyenv's versions directory
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# Prints "<major>.<minor> <free-threaded 0|1>" for a working interpreter, nothing otherwise.
probe() {
  "$1" -c 'import sys, sysconfig
if sys.implementation.name == "cpython" and sys.version_info >= (3, 11):
    print("%d.%d %d" % (sys.version_info[:2] + (int(sysconfig.get_config_var("Py_GIL_DISABLED") or 0),)))' \
    2>/dev/null || true
}

choose_python() {
  if [ -n "${PYTHON:-}" ]; then
    if [ -z "$(probe "$PYTHON")" ]; then
      say "PYTHON=$PYTHON is not a working CPython >= 3.11"; exit 1
    fi
    echo "$PYTHON"; return
  fi
  if command -v python3.14t >/dev/null 2>&1 && [ -n "$(probe python3.14t)" ]; then
    command -v python3.14t; return
  fi
  if command -v uv >/dev/null 2>&1; then
    local found
    found="$(uv python find 3.14t 2>/dev/null || true)"
    if [ -z "$found" ] && timeout 120 uv python install 3.14t >/dev/null 2>&1; then
      found="$(uv python find 3.14t 2>/dev/null || true)"
    fi
    if [ -n "$found" ] && [ -n "$(probe "$found")" ]; then echo "$found"; return; fi
  fi
  local best="" best_ver=0 cand info ver
  local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  for cand in python3.15 python3.14 python3.13 python3.12 python3.11 python3 \
              "$pyenv_root"/versions/3.*/bin/python3; do
    [ -x "$cand" ] || cand="$(command -v "$cand" 2>/dev/null || true)"
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    info="$(probe "$cand")"
    [ -n "$info" ] || continue
    ver="${info%% *}"; ver=$(( ${ver%%.*} * 100 + ${ver##*.} ))
    if [ "$ver" -gt "$best_ver" ]; then best="$cand"; best_ver="$ver"; fi
  done
  if [ -z "$best" ]; then
    say "no CPython >= 3.11 found; install one (e.g. apt-get install python3 python3-venv) or set PYTHON"
    exit 1
  fi
  echo "$best"
}

# What the venv needs, from its stamp ("<interpreter>|<extras>|<pyproject cksum>", one line):
# prints "ok", "install EXTRAS" (the union of those installed and those wanted) or
# "recreate EXTRAS" (another interpreter). Pure: tests call it (source this file, then call it).
install_plan() {
  local stamp_file="$1" real_python="$2" pyproject_sum="$3" wanted="$4"
  local had_python="" had_extras="" had_sum="" union extra
  if [ -f "$stamp_file" ]; then IFS='|' read -r had_python had_extras had_sum < "$stamp_file" || true; fi
  if [ -z "$had_python" ] || [ "$had_python" != "$real_python" ]; then
    echo "recreate $wanted"; return
  fi
  union="$had_extras"
  for extra in ${wanted//,/ }; do
    case ",$union," in *",$extra,"*) ;; *) union="${union:+$union,}$extra" ;; esac
  done
  if [ "$union" = "$had_extras" ] && [ "$had_sum" = "$pyproject_sum" ]; then echo "ok"; else echo "install $union"; fi
}

main() {
  local want_test=0
  [ "${1:-}" = "--test" ] && want_test=1
  python="$(choose_python)"
  read -r version free_threaded <<<"$(probe "$python")"
  if [ "$free_threaded" = 1 ]; then kind="free-threaded build"; else kind="GIL build"; fi
  say "interpreter: $python (CPython $version, $kind)"

  local wanted="fast,deploy"
  # orjson has no free-threaded wheel and would re-enable the GIL (SPEC §2): never on such a build.
  [ "$free_threaded" = 1 ] && wanted="deploy"
  [ "$want_test" = 1 ] && wanted="${wanted:+$wanted,}test"

  local real_python pyproject_sum action extras
  real_python="$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
  pyproject_sum="$(cksum < "$root/pyproject.toml")"
  [ -x "$venv/bin/python" ] || rm -f "$venv/.ftproxy-stamp"
  read -r action extras <<<"$(install_plan "$venv/.ftproxy-stamp" "$real_python" "$pyproject_sum" "$wanted")"
  if [ "$action" = ok ]; then
    say "using existing .venv"
    return 0
  fi
  if [ "$action" = recreate ] && [ -e "$venv" ]; then
    say "interpreter changed: recreating .venv"
    rm -rf "$venv"
  fi
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  say "installing ftproxy${extras:+[$extras]} into .venv"
  # setuptools warns on every editable install (a note about same-named folders, not a problem):
  # silence that one message only; real errors still show.
  export PYTHONWARNINGS="ignore:Editable installation${PYTHONWARNINGS:+,$PYTHONWARNINGS}"
  "$venv/bin/python" -m pip install --quiet -e "$root${extras:+[$extras]}"
  case ",$extras," in *,test,*)
    # SAP's SDK only serves the contract tests; on interpreters it cannot be installed on (it pulls
    # in many compiled packages) those tests skip and say why, everything else still runs.
    if ! "$venv/bin/python" -m pip install --quiet -e "$root[sdk]"; then
      say "warning: sap-ai-sdk-gen could not be installed; sdk_contract tests will be skipped"
    fi
    ;;
  esac
  echo "$real_python|$extras|$pyproject_sum" > "$venv/.ftproxy-stamp"
  say "ready: $venv/bin/ftproxy"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
