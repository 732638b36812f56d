#!/usr/bin/env bash
# Benchmark `adsched daemon` on a synthetic schedules folder (SPEC.md 3.3, 4, 6):
#   1. start-up: launching the daemon until GET /readyz answers 200 (fresh store,
#      so this includes the first reconcile adding every schedule)
#   2. resident memory (VmRSS) once ready
#   3. CPU seconds used while idle for IDLE seconds, after SETTLE seconds
#      (goal ~0: no busy polling)
#   4. save-to-API latency: time from writing a schedule file to
#      GET /api/v1/schedules/{id} showing the new name (10 atomic saves, as
#      editors do: temp file + rename; then one in-place write). Goal < 500 ms.
#
# Usage: bench/daemon_bench.sh       (run from anywhere)
#
# Environment:
#   N        number of Schedule files (default 10000)
#   IDLE     idle window in seconds for the CPU figure (default 30)
#   SETTLE   seconds after ready before the idle window starts (default 5)
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
# Ready is reported before the scheduler's first look at every stored schedule
# and sled's first flush of the start-up writes: that one-off work is printed
# apart, then the idle window starts.
SETTLE=${SETTLE:-5}
c0=$(cpu_ticks)
sleep "$SETTLE"
c1=$(cpu_ticks)
sleep "$IDLE"
alive
c2=$(cpu_ticks)
awk -v d="$(( c1 - c0 ))" -v hz="$CLK_TCK" -v s="$SETTLE" \
  'BEGIN { printf "CPU in the first %d s after ready (one-off settling): %.2f s\n", s, d / hz }'
awk -v d="$(( c2 - c1 ))" -v hz="$CLK_TCK" -v s="$IDLE" \
  'BEGIN { printf "idle CPU over %d s: %.2f s (%d ticks at %d Hz)\n", s, d / hz, d, hz }'

# --- 4. save-to-API latency -----------------------------------------------------
# One Python process does the saves and polls GET /api/v1/schedules/{id} every
# 10 ms over one keep-alive connection: a curl per poll would spend the
# machine's 2 cores on process start-up and slow the daemon it measures.
"$PYTHON" - "$BASE" "$DIR" "$N" "$EDITS" "$DPID" <<'PY'
import http.client, json, os, statistics, sys, time
from urllib.parse import urlparse

base, folder, n, edits, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

def name_of(sid):
    conn.request("GET", f"/api/v1/schedules/{sid}")
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        return None
    return json.loads(body).get("spec", {}).get("name")

def with_name(path, name):
    lines = open(path).read().split("\n")
    return "\n".join(f"name: {name}" if l.startswith("name: ") else l for l in lines)

def wait_for(sid, name, t0):
    limit = t0 + 90  # past the daemon's 60 s backstop rescan
    while True:
        if name_of(sid) == name:
            return (time.perf_counter() - t0) * 1000
        os.kill(pid, 0)  # raises if the daemon died
        if time.perf_counter() > limit:
            sys.exit(f"daemon_bench: schedule {sid} did not show name '{name}' within 90 s")
        time.sleep(0.01)

lat = []
step = max(1, n // edits)
for k in range(edits):
    i = 1 + k * step
    path = os.path.join(folder, f"s-{i:05d}.yaml")
    sid = f"bench-s-{i:05d}"
    name = f"bench edit {k} {os.getpid()} {time.time_ns()}"
    text = with_name(path, name)
    tmp = os.path.join(folder, f".s-{i:05d}.yaml.tmp")  # dot-prefixed: skipped by the daemon
    t0 = time.perf_counter()  # the save = write a temp file + rename, as editors do
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    lat.append(wait_for(sid, name, t0))
    time.sleep(0.5)  # let the daemon settle between saves
print(f"save-to-API, atomic (temp + mv), {edits} files: median {statistics.median(lat):.0f} ms, "
      f"max {max(lat):.0f} ms  (all: {' '.join(f'{x:.0f}' for x in lat)})")

# one in-place write (truncate + write the same inode)
path = os.path.join(folder, f"s-{n:05d}.yaml")
sid = f"bench-s-{n:05d}"
name = f"bench edit inplace {os.getpid()} {time.time_ns()}"
text = with_name(path, name)
t0 = time.perf_counter()
with open(path, "w") as f:
    f.write(text)
print(f"save-to-API, in-place write: {wait_for(sid, name, t0):.0f} ms")
PY
