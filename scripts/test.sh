#!/usr/bin/env bash
# Every test, from a fresh Debian or Ubuntu machine with only Rust installed.
#
# Installs what the tests start for real, then runs them:
#   - Debian packages: chromium (the dashboard browser test), nodejs and npm,
#     python3-venv, postgresql (the tests start their own throwaway servers
#     from its binaries; none is left running) — each skipped when already
#     present; apt needs root or sudo;
#   - a Python virtual environment in .venv/ with tests/requirements.txt
#     (aiosmtpd for the SMTP server, pydantic-ai for the MCP agent test,
#     check-jsonschema, actionlint, shellcheck and pre-commit for the Action);
#   - playwright-core in tests/browser/node_modules (it drives the system
#     Chromium; no browser is downloaded).
# Then `cargo test --locked`, with any extra arguments passed on, and, when
# there are none, tests/action/run.sh (the GitHub Action, the pre-commit hooks
# and the starter schedules repository, run locally).
# Re-running it is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '== %s\n' "$*"; }

apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || { echo "installing $* needs root or sudo" >&2; exit 2; }
    sudo=(sudo)
  fi
  say "apt-get install $*"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" > /dev/null
}

missing=()
[[ -x ${CHROMIUM_PATH:-/usr/bin/chromium} ]] || missing+=(chromium)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
python3 -c 'import ensurepip, venv' 2> /dev/null || missing+=(python3-venv)
compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null || missing+=(postgresql)
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# The Python packages live in .venv so the machine's Python stays untouched.
if [[ ! -x .venv/bin/python ]]; then
  say "python3 -m venv .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  say "pip install -r tests/requirements.txt"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

if [[ ! -f tests/browser/node_modules/.package-lock.json ]] ||
  ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.adsched-lock; then
  say "npm ci --prefix tests/browser"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
  cp tests/browser/package-lock.json tests/browser/node_modules/.adsched-lock
fi

# The tests find the venv's interpreter through this variable.
export ADSCHED_PYTHON="$root/.venv/bin/python"

say "cargo test --locked $*"
cargo test --locked "$@"

# A filtered run (arguments given) is about one part of the Rust suite.
if (($# == 0)); then
  say "tests/action/run.sh"
  PATH="$root/.venv/bin:$PATH" ADSCHED_BIN=target/debug/adsched tests/action/run.sh
fi
