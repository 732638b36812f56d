#!/usr/bin/env bash
# Benchmark `adsched validate` against check-jsonschema on a synthetic
# schedules folder.
#
# Usage: bench/validate_bench.sh        (run from anywhere; works in the repo root)
#
# Environment:
#   N         number of Schedule files to generate (default 10000)
#   RUNS      timed runs per tool, best one kept (default 3)
#   ADSCHED   adsched binary (default target/release/adsched; build it first
#             with `cargo build --release`)
#   SCHEMA    JSON Schema for check-jsonschema (default schemas/schedule.schema.json)
#   BENCH_VENV  venv holding check-jsonschema (default target/bench-venv;
#             created and installed from PyPI on first use)
#   PYTHON    python used for the venv and the generator (default python3)
#   KEEP=1    keep the generated folder (its path is printed)
#   XARGS_MAX_CHARS  max command-line size per check-jsonschema batch
#             (default ARG_MAX/2, at most 1 MiB: 10k files run as one batch)
#
# The folder holds products.yaml (several Product documents separated by ---)
# and s-00001.yaml .. (one Schedule each). check-jsonschema reads only
# single-document YAML files, so it gets the same Product documents split one
# per file from a sibling folder instead of products.yaml.
set -euo pipefail

caller_pwd=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

N=${N:-10000}
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-python3}
KEEP=${KEEP:-0}

die() { echo "validate_bench: $*" >&2; exit 1; }

[[ $N =~ ^[1-9][0-9]*$ && $N -le 99999 ]] || die "N must be 1..99999 (got '$N')"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"

# Resolve paths given relative to the caller's directory; defaults are relative to the repo.
abspath_from() { # base path
  case $2 in /*) printf '%s\n' "$2" ;; *) printf '%s/%s\n' "$1" "$2" ;; esac
}
if [[ -n ${ADSCHED:-} ]]; then
  if [[ $ADSCHED == */* ]]; then
    ADSCHED=$(abspath_from "$caller_pwd" "$ADSCHED")
  else
    ADSCHED=$(command -v -- "$ADSCHED") || die "ADSCHED '$ADSCHED' not found in PATH"
  fi
else
  ADSCHED=$ROOT/target/release/adsched
fi
if [[ -n ${SCHEMA:-} ]]; then SCHEMA=$(abspath_from "$caller_pwd" "$SCHEMA"); else SCHEMA=$ROOT/schemas/schedule.schema.json; fi
if [[ -n ${BENCH_VENV:-} ]]; then VENV=$(abspath_from "$caller_pwd" "$BENCH_VENV"); else VENV=$ROOT/target/bench-venv; fi

[[ -x $ADSCHED ]] || die "no adsched binary at $ADSCHED (run \`cargo build --release\` or set ADSCHED)"
[[ -f $SCHEMA ]] || die "no JSON Schema at $SCHEMA (set SCHEMA)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

# adsched resolves ./templates (the default --templates) from the repo root.
cd "$ROOT"

# --- check-jsonschema in a venv -------------------------------------------------
CJS=$VENV/bin/check-jsonschema
if [[ ! -x $CJS ]]; then
  echo "installing check-jsonschema from PyPI into $VENV ..." >&2
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check check-jsonschema \
    || die "pip install check-jsonschema failed"
fi
"$CJS" --version >/dev/null 2>&1 || die "$CJS does not run"

# --- data -----------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/adsched-bench.XXXXXX")
cleanup() {
  if [[ $KEEP == 1 ]]; then echo "kept $WORK" >&2; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DIR=$WORK/schedules
SPLIT=$WORK/cjs-products
"$PYTHON" "$ROOT/bench/gen_schedules.py" "$DIR" "$N" "$SPLIT"

shopt -s nullglob
sched_files=("$DIR"/s-*.yaml)
split_files=("$SPLIT"/product-*.yaml)
shopt -u nullglob
(( ${#sched_files[@]} == N )) || die "generator wrote ${#sched_files[@]} schedule files, expected $N"
(( ${#split_files[@]} > 0 )) || die "generator wrote no product files"
ADS_FILES=$(( N + 1 ))                        # products.yaml + schedules
CJS_FILES=$(( N + ${#split_files[@]} ))       # split products + schedules
bytes=$(du -sk "$DIR" | cut -f1)

# NUL-separated list of paths relative to $DIR (short, so 10k files fit one exec);
# printf is a builtin, so no ARG_MAX limit here.
LIST=$WORK/cjs.list
( cd "$DIR" && printf '%s\0' ../cjs-products/product-*.yaml s-*.yaml ) >"$LIST"
# Let xargs use a large command line (default is 128 KiB); keep headroom for the environment.
XARGS_S=${XARGS_MAX_CHARS:-$(( $(getconf ARG_MAX) / 2 ))}
(( XARGS_S > 1048576 )) && XARGS_S=1048576

run_adsched() { "$ADSCHED" validate "$DIR" --format json; }
run_cjs() {
  ( cd "$DIR" && xargs -0 -s "$XARGS_S" -a "$LIST" "$CJS" --schemafile "$SCHEMA" )
}

now() { date +%s.%N; }

# time_best NAME FUNC -> sets BEST (seconds); the last run's stdout/stderr stay in $WORK/NAME.{out,err}
time_best() {
  local name=$1 fn=$2 r t0 t1 dt rc
  BEST=
  for (( r = 1; r <= RUNS; r++ )); do
    rc=0
    t0=$(now)
    "$fn" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    t1=$(now)
    if (( rc != 0 )); then
      echo "validate_bench: $name exited $rc (run $r); first lines of its output:" >&2
      head -c 4000 "$WORK/$name.out" >&2 || true
      head -c 4000 "$WORK/$name.err" >&2 || true
      echo >&2
      exit 1
    fi
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [[ -z $BEST ]] || awk -v d="$dt" -v b="$BEST" 'BEGIN { exit !(d < b) }'; then BEST=$dt; fi
  done
}

echo "validate bench: N=$N schedule files (+ products), ${bytes} KiB, best of $RUNS, $(nproc) CPU(s)"
echo "  adsched:          $ADSCHED"
echo "  check-jsonschema: $("$CJS" --version 2>/dev/null | head -n1)"

time_best adsched run_adsched
ADS_T=$BEST
# Sanity: the generated folder must be valid and fully read.
"$PYTHON" - "$WORK/adsched.out" "$ADS_FILES" <<'PY' || die "unexpected adsched validate output (see above)"
import json, sys
path, want_files = sys.argv[1], int(sys.argv[2])
raw = open(path).read()
try:
    d = json.loads(raw)
except ValueError as e:
    sys.exit("adsched output is not JSON (%s): %s" % (e, raw[:500]))
problems = []
if d.get("valid") is not True:
    problems.append("valid is %r" % d.get("valid"))
if d.get("errors"):
    problems.append("%d errors, first: %s" % (len(d["errors"]), d["errors"][0]))
if d.get("files") != want_files:
    problems.append("files is %r, expected %d" % (d.get("files"), want_files))
if problems:
    sys.exit("adsched validate: " + "; ".join(problems))
if d.get("warnings"):
    print("  note: adsched reported %d warnings, first: %s" % (len(d["warnings"]), d["warnings"][0]))
PY

time_best check-jsonschema run_cjs
CJS_T=$BEST

awk -v n="$ADS_FILES" -v t="$ADS_T" 'BEGIN { printf "adsched validate:  %9.3f s  %10.0f files/s  (%d files)\n", t, (t > 0 ? n / t : 0), n }'
awk -v n="$CJS_FILES" -v t="$CJS_T" 'BEGIN { printf "check-jsonschema:  %9.3f s  %10.0f files/s  (%d files)\n", t, (t > 0 ? n / t : 0), n }'
awk -v a="$ADS_T" -v c="$CJS_T" 'BEGIN { printf "validate speedup vs check-jsonschema: %.1fx\n", (a > 0 ? c / a : 0) }'
