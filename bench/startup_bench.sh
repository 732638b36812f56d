#!/usr/bin/env bash
# Start-up against its floor, in one run (issue 19): for each size N and
# each store (sled, and PostgreSQL when its server is installed: a
# throwaway one from bench/pg.sh),
#   1. `adsched validate` of the generated tree (the floor: reading and
#      checking every file, which the daemon must do too);
#   2. the daemon's first start to GET /readyz 200 on a fresh store, and
#      its resident memory (VmRSS) once ready (the daemon's alone: not the
#      PostgreSQL server's);
#   3. a restart on the same store to /readyz 200, and its memory;
# three rounds of the three, medians compared, the largest memory shown.
# Prints each start-up as a ratio to validate (goals: first start within 2x,
# restart within 1.5x) and the memory per 1,000 schedules (goal: under
# 100 MiB at 10,000, growing no more than linearly).
#
# Usage: cargo build --release && bench/startup_bench.sh
#        SIZES="10000 100000" bench/startup_bench.sh   (the default)
#        STORES=sled bench/startup_bench.sh             (one store)
# Needs: bash, curl, python3, GNU date (%N), Linux /proc.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-10000 100000}
source "$ROOT/bench/pg.sh"
if pg_available; then STORES=${STORES:-sled postgres}; else STORES=${STORES:-sled}; fi
ADSCHED=${ADSCHED:-$ROOT/target/release/adsched}
PYTHON=${PYTHON:-python3}
[[ -x $ADSCHED ]] || { echo "startup_bench: no $ADSCHED; run \`cargo build --release\`" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/adsched-startup-bench.XXXXXX")
DPID=
stop_daemon() {
  if [[ -n $DPID ]] && kill -0 "$DPID" 2>/dev/null; then
    kill -TERM "$DPID"
    wait "$DPID" 2>/dev/null || true
  fi
  DPID=
}
trap 'stop_daemon; pg_stop; rm -rf -- "$WORK"' EXIT
[[ " $STORES " != *" postgres "* ]] || pg_start

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_daemon DIR [URL]: starts it (on the store URL, else sled in DIR),
# waits for /readyz 200; prints "ms rss_mib".
start_daemon() {
  local dir=$1 url=${2:-} port t0 t1
  local store=()
  [[ -z $url ]] || store=(--store "$url")
  port=$(free_port)
  t0=$(now_ms)
  "$ADSCHED" daemon --schedules "$dir/schedules" --templates "$ROOT/templates" --state "$dir/state" \
    "${store[@]}" --listen "127.0.0.1:$port" > "$dir/daemon.log" 2>&1 &
  DPID=$!
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null || true) == 200 ]]; do
    kill -0 "$DPID" 2>/dev/null || { echo "startup_bench: the daemon exited; see $dir/daemon.log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now_ms)
  awk -v ms=$((t1 - t0)) '/^VmRSS:/ { printf "%d %.1f\n", ms, $2 / 1024 }' "/proc/$DPID/status"
}

echo "== startup bench: $("$ADSCHED" --version 2>/dev/null || echo adsched), sizes: $SIZES, stores: $STORES"
rows=()
for n in $SIZES; do
  dir=$WORK/$n
  mkdir -p "$dir/schedules"
  "$PYTHON" "$ROOT/bench/gen_schedules.py" "$dir/schedules" "$n" > /dev/null
  # Paused, as bench/daemon_bench.sh does: loaded, checked and stored, never fired.
  "$PYTHON" - "$dir/schedules" <<'PY'
import os, sys
d = sys.argv[1]
for f in os.listdir(d):
    if f.startswith("s-"):
        p = os.path.join(d, f)
        text = open(p).read()
        if "\npaused: true\n" not in text:
            open(p, "w").write(text.replace("\nschedule:\n", "\npaused: true\nschedule:\n", 1))
PY
  # Three rounds, each a validate, a first start on a fresh store and a
  # restart on it, so the three share the machine's moment; the medians are
  # compared (this virtual machine's timings move by a third between runs),
  # and the largest memory of the three is shown.
  for store in $STORES; do
    : > "$dir/rounds"
    for round in 1 2 3; do
      rm -rf "$dir/state"
      url=
      [[ $store == sled ]] || url=$(pg_db "startup_${n}_$round")
      t0=$(now_ms)
      "$ADSCHED" validate --format json --templates "$ROOT/templates" "$dir/schedules" > /dev/null || true
      v=$(( $(now_ms) - t0 ))
      # Not in a subshell: the daemon's pid stays ours to stop.
      start_daemon "$dir" "$url" > "$dir/first.out"
      stop_daemon
      start_daemon "$dir" "$url" > "$dir/again.out"
      stop_daemon
      echo "$v $(cat "$dir/first.out") $(cat "$dir/again.out")" >> "$dir/rounds"
    done
    med() { cut -d' ' -f"$1" "$dir/rounds" | sort -n | sed -n 2p; }
    top() { cut -d' ' -f"$1" "$dir/rounds" | sort -n | tail -1; }
    validate_ms=$(med 1); first_ms=$(med 2); first_rss=$(top 3); again_ms=$(med 4); again_rss=$(top 5)
    echo "N=$n $store rounds (validate ms, first start ms MiB, restart ms MiB):"
    sed 's/^/  /' "$dir/rounds"
    echo "N=$n $store: validate ${validate_ms} ms; first start ${first_ms} ms, ${first_rss} MiB; restart ${again_ms} ms, ${again_rss} MiB"
    rows+=("$n $store $validate_ms $first_ms $first_rss $again_ms $again_rss")
  done
done

echo
echo "| schedules | store | validate (floor) | first start | / validate (goal 2x) | restart | / validate (goal 1.5x) | RSS first start | RSS restart | MiB per 1,000 |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  read -r n store v f fr a ar <<< "$r"
  awk -v n="$n" -v st="$store" -v v="$v" -v f="$f" -v fr="$fr" -v a="$a" -v ar="$ar" 'BEGIN {
    printf "| %d | %s | %d ms | %d ms | %.2fx | %d ms | %.2fx | %.1f MiB | %.1f MiB | %.2f |\n",
      n, st, v, f, f / v, a, a / v, fr, ar, (fr > ar ? fr : ar) / (n / 1000) }'
done
