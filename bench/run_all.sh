#!/usr/bin/env bash
# Every benchmark of the project in one command (issue 7), each figure as a
# ratio against a peer measured in the same run:
#
#   1. validate        bench/validate_bench.sh: `adsched validate` vs check-jsonschema
#   2. fire-times      examples/fire_times_bench.rs vs bench/fire_times_croniter.py
#                      (fire-time computation; the fire times are compared too)
#   3. fire-jobs       examples/fire_jobs_bench.rs (the real daemon) vs
#                      bench/fire_jobs_apscheduler.py (APScheduler 3 + SQLite job store)
#   4. daemon          bench/daemon_bench.sh (no peer: its figures against their goals)
#
# and a summary table at the end.
#
# Usage: bench/run_all.sh            (from anywhere; 8 to 15 minutes at full size)
#        QUICK=1 bench/run_all.sh    (small sizes, about a minute)
#
# Builds nothing: first `cargo build --release --examples` (it needs
# target/release/adsched and the fire_times_bench and fire_jobs_bench examples).
# The Python peers live in the venv target/bench-venv (the one
# validate_bench.sh uses), created and filled from PyPI on first use:
# check-jsonschema, croniter, APScheduler<4, SQLAlchemy.
#
# Environment:
#   QUICK=1        N=1000, K=5000, IDLE=5, EDITS=3 unless given
#   N              schedules / jobs for validate, fire-jobs and daemon (default 10000)
#   K              fire times per case for fire-times (default 20000; at least
#                  ~15000 so the every-30-minutes case reaches the fall-back night)
#   VALIDATE_RUNS  timed runs per tool in validate, best kept (default 1)
#   IDLE, EDITS    daemon_bench knobs (defaults 30 and 10)
#   ONLY           a subset, e.g. ONLY="fire-times fire-jobs" (default: all four)
#   BENCH_VENV     the venv (default target/bench-venv)
#   PYTHON         python used to create the venv (default python3)
#   LOGS           where every section's full output goes
#                  (default target/bench-logs/YYYYmmdd-HHMMSS)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
caller_pwd=$PWD
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  N=${N:-1000}; K=${K:-5000}; IDLE=${IDLE:-5}; EDITS=${EDITS:-3}
else
  N=${N:-10000}; K=${K:-20000}; IDLE=${IDLE:-30}; EDITS=${EDITS:-10}
fi
VALIDATE_RUNS=${VALIDATE_RUNS:-1}
ONLY=${ONLY:-validate fire-times fire-jobs daemon}
PYTHON=${PYTHON:-python3}

die() { echo "run_all: $*" >&2; exit 1; }

[[ $N =~ ^[1-9][0-9]*$ && $N -le 99999 ]] || die "N must be 1..99999 (got '$N')"
[[ $K =~ ^[1-9][0-9]*$ ]] || die "K must be a positive integer (got '$K')"
for s in $ONLY; do
  case $s in validate | fire-times | fire-jobs | daemon) ;; *) die "ONLY: unknown section '$s'" ;; esac
done
wants() { [[ " $ONLY " == *" $1 "* ]]; }

abspath_from() { # base path
  case $2 in /*) printf '%s\n' "$2" ;; *) printf '%s/%s\n' "$1" "$2" ;; esac
}
if [[ -n ${BENCH_VENV:-} ]]; then VENV=$(abspath_from "$caller_pwd" "$BENCH_VENV"); else VENV=$ROOT/target/bench-venv; fi
if [[ -n ${LOGS:-} ]]; then LOGS=$(abspath_from "$caller_pwd" "$LOGS"); else LOGS=$ROOT/target/bench-logs/$(date +%Y%m%d-%H%M%S); fi
export BENCH_VENV=$VENV

# --- what must be built ------------------------------------------------------------
ADSCHED=$ROOT/target/release/adsched
FT_BIN=$ROOT/target/release/examples/fire_times_bench
FJ_BIN=$ROOT/target/release/examples/fire_jobs_bench
missing=()
for b in "$ADSCHED" "$FT_BIN" "$FJ_BIN"; do [[ -x $b ]] || missing+=("${b#"$ROOT"/}"); done
if (( ${#missing[@]} > 0 )); then
  die "not built: ${missing[*]}; run \`cargo build --release --examples\` in $ROOT first"
fi
# A binary older than the sources measures old code: say so (not fatal).
for b in "$ADSCHED" "$FT_BIN" "$FJ_BIN"; do
  srcs=("$ROOT/src")
  [[ $b == "$ADSCHED" ]] || srcs+=("$ROOT/examples/$(basename "$b").rs")
  newer=$(find "${srcs[@]}" -name '*.rs' -newer "$b" -print -quit 2>/dev/null || true)
  [[ -z $newer ]] || echo "run_all: warning: ${b#"$ROOT"/} is older than ${newer#"$ROOT"/}; rebuild with \`cargo build --release --examples\`" >&2
done
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

# --- the peers' venv -----------------------------------------------------------------
PY=$VENV/bin/python
if [[ ! -x $PY ]]; then
  echo "creating the venv $VENV ..." >&2
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
fi
if ! "$PY" -c 'import croniter, apscheduler, sqlalchemy' 2>/dev/null || [[ ! -x $VENV/bin/check-jsonschema ]] \
  || [[ $("$PY" -c 'import apscheduler; print(apscheduler.__version__.split(".")[0])' 2>/dev/null) != 3 ]]; then
  echo "installing check-jsonschema, croniter, APScheduler<4, SQLAlchemy from PyPI into $VENV ..." >&2
  "$PY" -m pip install --quiet --disable-pip-version-check check-jsonschema croniter 'APScheduler<4' SQLAlchemy \
    || die "pip install failed"
fi
pkg_version() { "$PY" -c 'import sys; from importlib.metadata import version; print(version(sys.argv[1]))' "$1" 2>/dev/null || echo '?'; }

mkdir -p "$LOGS"
# run_section NAME CMD...: the output goes to the terminal and to $LOGS/NAME.log.
run_section() {
  local name=$1
  shift
  echo
  echo "=== $name: $* ==="
  local rc=0
  "$@" 2>&1 | tee "$LOGS/$name.log" || rc=$?
  (( rc == 0 )) || die "$name failed (exit $rc); its output is in $LOGS/$name.log"
}
# field FILE REGEX: the first capture of REGEX (extended, no "#") in FILE, or "?".
field() {
  local v
  v=$(sed -En "s#$2#\\1#p" "$1" | head -n 1)
  printf '%s\n' "${v:-?}"
}
# ratio A B: A / B with two decimals, or "?".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "?" }'; }

os=$(sed -En 's/^PRETTY_NAME="?([^"]*)"?$/\1/p' /etc/os-release 2>/dev/null) || true
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //') || cpu='?'
rust=$(rustc --version 2>/dev/null || echo 'rustc ?')
echo "bench/run_all.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): N=$N K=$K QUICK=$QUICK, sections: $ONLY"
echo "machine: $(nproc) CPU(s) ${cpu:-?}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), ${os:-?}, $rust"
echo "peers: $("$PY" --version 2>&1), check-jsonschema $(pkg_version check-jsonschema), croniter $(pkg_version croniter), APScheduler $(pkg_version APScheduler), SQLAlchemy $(pkg_version SQLAlchemy)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "logs: $LOGS"

# --- 1. validate ------------------------------------------------------------------------
if wants validate; then
  run_section validate env N="$N" RUNS="$VALIDATE_RUNS" ADSCHED="$ADSCHED" "$ROOT/bench/validate_bench.sh"
fi

# --- 2. fire times -----------------------------------------------------------------------
if wants fire-times; then
  run_section fire-times-adsched "$FT_BIN" "$K" --dump "$LOGS/fire-times-adsched"
  run_section fire-times-croniter "$PY" "$ROOT/bench/fire_times_croniter.py" "$K" --dump "$LOGS/fire-times-croniter"
  echo
  echo "=== fire times compared (adsched: cronie's rules, SPEC 3.2; croniter: its own) ==="
  "$PY" "$ROOT/bench/compare_fire_times.py" "$LOGS/fire-times-adsched" "$LOGS/fire-times-croniter" \
    | tee "$LOGS/fire-times-compare.log"
fi

# --- 3. fire due jobs ---------------------------------------------------------------------
if wants fire-jobs; then
  run_section fire-jobs-adsched "$FJ_BIN" "$N"
  run_section fire-jobs-apscheduler "$PY" "$ROOT/bench/fire_jobs_apscheduler.py" "$N"
  echo
  echo "Both sides: a durable store written before and after each job (sled flushed;"
  echo "SQLite commits in its default journal mode), the clock starts at the same due"
  echo "instant T, adding the jobs is not timed. adsched runs one job at a time and records"
  echo "each run (status, times, ad, log lines); APScheduler runs up to 10 at once in"
  echo "threads and deletes each fired DateTrigger job from its store, keeping no history."
fi

# --- 4. daemon ---------------------------------------------------------------------------
if wants daemon; then
  run_section daemon env N="$N" IDLE="$IDLE" EDITS="$EDITS" ADSCHED="$ADSCHED" "$ROOT/bench/daemon_bench.sh"
fi

# --- summary --------------------------------------------------------------------------------
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "=== summary (ratio > 1: adsched is better by that factor) ==="
row() { printf '%-44s %20s %26s %9s\n' "$@"; }
row "figure" "adsched" "peer" "ratio"
row "------" "-------" "----" "-----"
if wants validate; then
  L=$LOGS/validate.log
  a=$(field "$L" '^adsched validate: +([0-9.]+) s.*')
  p=$(field "$L" '^check-jsonschema: +([0-9.]+) s.*')
  af=$(field "$L" '^adsched validate: .*\(([0-9]+) files\).*')
  row "validate $af files (s)" "$a" "$p check-jsonschema" "$(ratio "$p" "$a")x"
fi
if wants fire-times; then
  a=$(field "$LOGS/fire-times-adsched.log" '^RESULT ns_per_fire=([0-9.]+).*')
  p=$(field "$LOGS/fire-times-croniter.log" '^RESULT ns_per_fire=([0-9.]+).*')
  row "fire-time computation (ns per fire time)" "$a" "$p croniter" "$(ratio "$p" "$a")x"
  agree=$(field "$LOGS/fire-times-compare.log" '^COMPARE agree=([0-9]+).*')
  differ=$(field "$LOGS/fire-times-compare.log" '^COMPARE agree=[0-9]+ differ=([0-9]+).*')
  row "  fire times identical, cases" "$agree of $(( agree + differ ))" "(differences above)" ""
fi
if wants fire-jobs; then
  A=$LOGS/fire-jobs-adsched.log
  P=$LOGS/fire-jobs-apscheduler.log
  ar=$(field "$A" '^RESULT seconds=[0-9.]+ runs_per_s=([0-9.]+).*')
  pr=$(field "$P" '^RESULT seconds=[0-9.]+ runs_per_s=([0-9.]+).*')
  as=$(field "$A" '^RESULT seconds=([0-9.]+).*')
  ps=$(field "$P" '^RESULT seconds=([0-9.]+).*')
  row "fire $N due no-op jobs (runs/s)" "$ar" "$pr APScheduler" "$(ratio "$ar" "$pr")x"
  row "  same, seconds from the due time" "$as" "$ps" ""
  fl=$(field "$A" '^RESULT .* flushes_per_run=([0-9.]+).*')
  row "  adsched store flushes per run" "$fl" "goal <= 2 (floor 1)" "$(awk -v v="$fl" 'BEGIN { print (v != "?" && v + 0 <= 2.005) ? "yes" : "no" }')"
fi
if wants daemon; then
  L=$LOGS/daemon.log
  echo
  row "daemon, $N schedules (no peer)" "adsched" "goal" "met"
  row "------" "-------" "----" "---"
  row "start to /readyz 200 (ms)" "$(field "$L" '^startup to /readyz 200: ([0-9]+) ms.*')" "-" ""
  row "RSS once ready (MiB)" "$(field "$L" '^RSS after ready: ([0-9.]+) MiB.*')" "-" ""
  idle=$(field "$L" '^idle CPU over [0-9]+ s: ([0-9.]+) s.*')
  idle_pct=$(awk -v c="$idle" -v s="$IDLE" 'BEGIN { if (s > 0 && c != "?") printf "%.1f", 100 * c / s; else printf "?" }')
  row "CPU while idle ${IDLE} s (s)" "$idle ($idle_pct %)" "~0" "$(awk -v p="$idle_pct" 'BEGIN { print (p != "?" && p + 0 < 1) ? "yes" : "no" }')"
  med=$(field "$L" '^save-to-API, atomic .*: median ([0-9]+) ms.*')
  mx=$(field "$L" '^save-to-API, atomic .*, max ([0-9]+) ms.*')
  inplace=$(field "$L" '^save-to-API, in-place write: ([0-9]+) ms.*')
  met() { awk -v v="$1" 'BEGIN { print (v != "?" && v + 0 < 500) ? "yes" : "no" }'; }
  row "save -> API, atomic, median (ms)" "$med (max $mx)" "< 500" "$(met "$med")"
  row "save -> API, in-place write (ms)" "$inplace" "< 500" "$(met "$inplace")"
fi
echo
echo "full outputs: $LOGS"
