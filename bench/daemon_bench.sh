#!/usr/bin/env bash
# Benchmark `adsched daemon` on a synthetic schedules folder (SPEC.md 3.3, 4, 6):
#   1. start-up: launching the daemon until GET /readyz answers 200 (fresh store,
#      so this includes the first reconcile adding every schedule)
#   2. resident memory (VmRSS) once ready
#   3. CPU seconds used while idle for IDLE seconds (goal ~0: no busy polling)
#   4. save-to-API latency: time from writing a schedule file to
#      GET /api/v1/schedules/{id} showing the new name (10 atomic saves, as
#      editors do: temp file + mv; then one in-place write). Goal < 500 ms.
#
# Usage: bench/daemon_bench.sh       (run from anywhere)
#
# Environment:
#   N        number of Schedule files (default 10000)
#   IDLE     idle window in seconds for the CPU figure (default 30)
#   EDITS    atomic saves to time (default 10)
#   ADSCHED  adsched binary (default target/release/adsched; `cargo build --release`)
#   TEMPLATES template pool (default the repo's templates/)
#   PORT     port to listen on (default: a free one)
#   PYTHON   python for the generator (default python3)
#   KEEP=1   keep the temp folder (schedules, state, daemon.log)
#
# Every generated schedule gets `paused: true` (bench/gen_schedules.py pauses
# only every 7th) so nothing fires and the local generator does no work during
# the benchmark. Paused schedules are still loaded, validated, reconciled and
# stored, which is what is measured.
#
# Needs: bash, curl, python3, GNU date (%N), getconf, Linux /proc.
set -euo pipefail

caller_pwd=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

N=${N:-10000}
IDLE=${IDLE:-30}
EDITS=${EDITS:-10}
PYTHON=${PYTHON:-python3}
KEEP=${KEEP:-0}

die() { echo "daemon_bench: $*" >&2; exit 1; }

[[ $N =~ ^[1-9][0-9]*$ && $N -le 99999 ]] || die "N must be 1..99999 (got '$N')"
[[ $IDLE =~ ^[0-9]+$ ]] || die "IDLE must be a whole number of seconds (got '$IDLE')"
[[ $EDITS =~ ^[1-9][0-9]*$ && $EDITS -le $N ]] || die "EDITS must be 1..N (got '$EDITS')"

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
if [[ -n ${TEMPLATES:-} ]]; then TEMPLATES=$(abspath_from "$caller_pwd" "$TEMPLATES"); else TEMPLATES=$ROOT/templates; fi

[[ -x $ADSCHED ]] || die "no adsched binary at $ADSCHED (run \`cargo build --release\` or set ADSCHED)"
[[ -d $TEMPLATES ]] || die "no template pool at $TEMPLATES (set TEMPLATES)"
for c in curl "$PYTHON" getconf; do command -v "$c" >/dev/null || die "$c not found"; done
[[ $(date +%N) =~ ^[0-9]+$ ]] || die "date +%N unsupported (GNU date needed)"

CLK_TCK=$(getconf CLK_TCK)

# --- temp folder, daemon cleanup ------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/adsched-daemon-bench.XXXXXX")
DPID=
cleanup() {
  if [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null; then
    kill -TERM "$DPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then echo "kept $WORK" >&2; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DIR=$WORK/schedules
STATE=$WORK/state
LOG=$WORK/daemon.log

# --- data -----------------------------------------------------------------------
"$PYTHON" "$ROOT/bench/gen_schedules.py" "$DIR" "$N"
# Pause every schedule that is not already paused (insert after `product:`).
"$PYTHON" - "$DIR" <<'PY'
import os, sys
d = sys.argv[1]
for f in os.listdir(d):
    if not f.startswith("s-"):
        continue
    p = os.path.join(d, f)
    lines = open(p).read().split("\n")
    if "paused: true" in lines:
        continue
    i = next(k for k, l in enumerate(lines) if l.startswith("product: "))
    lines.insert(i + 1, "paused: true")
    open(p, "w").write("\n".join(lines))
PY
shopt -s nullglob
files=("$DIR"/s-*.yaml)
shopt -u nullglob
(( ${#files[@]} == N )) || die "generator wrote ${#files[@]} schedule files, expected $N"
unpaused=$(grep -L '^paused: true$' "$DIR"/s-*.yaml | wc -l) || true
(( unpaused == 0 )) || die "$unpaused schedule files are not paused"

if [[ -z ${PORT:-} ]]; then
  PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
BASE=http://127.0.0.1:$PORT

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
cpu_ticks() { # utime + stime of $DPID (fields 14, 15; after the ")" of comm)
  local s
  s=$(<"/proc/$DPID/stat")
  s=${s##*) }
  read -r -a f <<<"$s"
  echo $(( f[11] + f[12] ))
}
alive() { kill -0 "$DPID" 2>/dev/null || { echo "daemon_bench: the daemon exited; last log lines:" >&2; tail -n 30 "$LOG" >&2; exit 1; }; }

echo "daemon bench: N=$N schedules (all paused), $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "  adsched: $ADSCHED"

# --- 1. start-up until ready ----------------------------------------------------
cd "$ROOT"
t0=$(now_ns)
"$ADSCHED" daemon --schedules "$DIR" --templates "$TEMPLATES" --state "$STATE" \
  --listen "127.0.0.1:$PORT" --generator local >"$LOG" 2>&1 &
DPID=$!
deadline=$(( t0 + 300 * 1000000000 ))
until [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" 2>/dev/null || true) == 200 ]]; do
  alive
  (( $(now_ns) < deadline )) || die "not ready after 300 s"
  sleep 0.02
done
ready_ms=$(ms_since "$t0")
echo "startup to /readyz 200: $ready_ms ms"

invalid=$(curl -s "$BASE/readyz" | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin).get("invalid_files") or []))')
[[ $invalid == 0 ]] || echo "  warning: /readyz lists $invalid invalid files" >&2

# --- 2. memory ------------------------------------------------------------------
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status")
awk -v r="$rss_kb" -v h="$hwm_kb" 'BEGIN { printf "RSS after ready: %.1f MiB (VmRSS; peak VmHWM %.1f MiB)\n", r / 1024, h / 1024 }'

# --- 3. idle CPU ----------------------------------------------------------------
c0=$(cpu_ticks)
sleep "$IDLE"
alive
c1=$(cpu_ticks)
awk -v d="$(( c1 - c0 ))" -v hz="$CLK_TCK" -v s="$IDLE" \
  'BEGIN { printf "idle CPU over %d s: %.2f s (%d ticks at %d Hz)\n", s, d / hz, d, hz }'

# --- 4. save-to-API latency -----------------------------------------------------
# wait_name ID NAME T0 -> prints ms until the API shows NAME for ID (poll every 10 ms;
# gives up after 90 s, past the daemon's 60 s backstop rescan)
wait_name() {
  local id=$1 name=$2 start=$3 limit=$(( $3 + 90 * 1000000000 ))
  while :; do
    if curl -s "$BASE/api/v1/schedules/$id" | grep -qF "\"$name\""; then
      ms_since "$start"
      return
    fi
    alive
    (( $(now_ns) < limit )) || die "schedule $id did not show name '$name' within 90 s"
    sleep 0.01
  done
}
# new_content FILE NAME -> the file with its top-level name: replaced
new_content() { sed "s/^name: .*/name: $2/" "$1"; }

lat=()
step=$(( N / EDITS )); (( step >= 1 )) || step=1
for (( k = 0; k < EDITS; k++ )); do
  i=$(( 1 + k * step ))
  f=$(printf '%s/s-%05d.yaml' "$DIR" "$i")
  id=$(printf 'bench-s-%05d' "$i")
  name="bench edit $k $$ $(now_ns)"
  tmp=$(dirname "$f")/.$(basename "$f").tmp     # dot-prefixed: skipped by the daemon
  t=$(now_ns)                                   # the save = write temp file + rename
  new_content "$f" "$name" >"$tmp"
  mv -f -- "$tmp" "$f"
  ms=$(wait_name "$id" "$name" "$t")
  lat+=("$ms")
  sleep 0.5                                     # let the daemon settle between saves
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%d\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
max=$(printf '%s\n' "$sorted" | tail -n1)
echo "save-to-API, atomic (temp + mv), $EDITS files: median $median ms, max $max ms  (all: ${lat[*]})"

# one in-place write (truncate + write the same inode)
i=$(( N > 1 ? N : 1 ))
f=$(printf '%s/s-%05d.yaml' "$DIR" "$i")
id=$(printf 'bench-s-%05d' "$i")
name="bench edit inplace $$ $(now_ns)"
content=$(new_content "$f" "$name")
t=$(now_ns)
printf '%s\n' "$content" >"$f"
ms=$(wait_name "$id" "$name" "$t")
echo "save-to-API, in-place write: $ms ms"
