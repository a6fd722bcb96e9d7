#!/usr/bin/env bash
# SalesRL's one entry point on a fresh Debian machine with Python 3.11.
#
#   ./salesrl.sh up        install, start PostgreSQL+pgvector, Redis, worker, web; seed and replay a demo
#   ./salesrl.sh test      install, start PostgreSQL+pgvector and Redis, run lint and every test
#   ./salesrl.sh down      stop everything this project started
#   ./salesrl.sh status    what runs, and the health check
#   ./salesrl.sh manage …  a Django management command in the project's environment
#
# Everything lives in the state folder (default ./.state, or $SALESRL_STATE_DIR): the virtualenv,
# the database files, logs and pid files. Settings come from the environment: see .env.example.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
STATE_DIR="${SALESRL_STATE_DIR:-$PWD/.state}"
VENV="$STATE_DIR/venv"
export SALESRL_STATE_DIR="$STATE_DIR"
export ORT_DISABLE_TELEMETRY=1

say() { printf '[salesrl] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "needs root for: $*"; exit 1
  fi
}

APT_UPDATED=""
apt_install() {
  say "installing Debian packages: $*"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for candidate in "${SALESRL_PYTHON:-}" python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  say "Python 3.11 is required (Debian 12: apt-get install python3). Set SALESRL_PYTHON to its path."
  exit 1
}

# ensure_venv EXTRAS: a virtualenv with the project installed with those extras (comma list, may be "").
# Re-installs only when pyproject.toml changed or an extra is asked for that is not installed yet.
ensure_venv() {
  local extras="$1" python stamp hash installed extra missing=""
  hash="$(sha256sum pyproject.toml | cut -c1-16)"
  stamp="$VENV/.salesrl-installed"
  installed=""
  if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$hash" ]; then installed="$(cut -d' ' -f2 "$stamp")"; fi
  for extra in ${extras//,/ }; do
    case ",$installed," in *",$extra,"*) ;; *) missing=1 ;; esac
  done
  if [ -f "$stamp" ] && [ -n "$installed" ] && [ -z "$missing" ]; then return; fi
  if [ -n "$installed" ] && [ "$installed" != "-" ]; then extras="$installed${extras:+,$extras}"; fi
  extras="$(echo "$extras" | tr ',' '\n' | { grep -v '^-*$' || true; } | sort -u | paste -sd, -)"
  if [ ! -x "$VENV/bin/python" ]; then
    python="$(find_python)"
    if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then apt_install python3-venv; fi
    say "creating virtualenv in $VENV"
    mkdir -p "$STATE_DIR"
    "$python" -m venv "$VENV"
  fi
  say "installing Python dependencies (${extras:-runtime}); the first time takes a minute or two"
  # pip.conf on some machines lists local package folders that may be absent: hide that noise.
  "$VENV/bin/python" -m pip install -q --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
  "$VENV/bin/python" -m pip install -q -e ".${extras:+[$extras]}" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$hash ${extras:--}" >"$stamp"
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
}

run_tests() {
  local py="$VENV/bin/python" status=0
  # Services this run starts are stopped when it ends; ones that were already running stay up.
  mkdir -p "$STATE_DIR/run"
  "$py" -m salesrl.stack services --record "$STATE_DIR/run/test-services"
  trap '"$VENV/bin/python" -m salesrl.stack stop-recorded "$STATE_DIR/run/test-services"' EXIT
  say "lint"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check --quiet . || { say "run: $VENV/bin/ruff format ."; return 1; }
  say "migrations are up to date"
  "$py" manage.py makemigrations --check --dry-run >/dev/null 2>&1 ||
    { "$py" manage.py makemigrations --check --dry-run; return 1; }
  # Browser tests run in their own pytest process: Playwright's sync API and asyncio tests
  # cannot share one event loop.
  say "tests"
  "$py" -m pytest -m "not browser" "$@" || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then return "$status"; fi
  say "browser tests (Chromium)"
  status=0
  "$py" -m pytest -m browser "$@" || status=$?
  # 5 = no test selected (e.g. `./salesrl.sh test -k something` matching no browser test)
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then return "$status"; fi
}

command="${1:-help}"
shift || true
case "$command" in
  up)
    ensure_venv train
    exec "$VENV/bin/python" -m salesrl.stack up "$@"
    ;;
  test)
    ensure_venv dev,train
    ensure_chromium
    run_tests "$@"
    ;;
  down | status | services)
    ensure_venv ""
    exec "$VENV/bin/python" -m salesrl.stack "$command" "$@"
    ;;
  manage)
    ensure_venv ""
    exec "$VENV/bin/python" manage.py "$@"
    ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [ "$command" = help ] || [ "$command" = -h ] || [ "$command" = --help ] || exit 2
    ;;
esac
