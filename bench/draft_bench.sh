#!/usr/bin/env bash
# The browser form's check of a draft (SPEC 9, `POST /api/v1/validate`)
# against a large schedules folder, in one run:
#   1. `adsched validate` of the generated tree: what a check cost when it
#      read and parsed every file of the folder each time;
#   2. the daemon's first check after it is ready;
#   3. the median of the checks after it, with nothing changed on disk.
# A check lists and stats the folder and parses only the files changed
# since the daemon's last reload (it reads through the reload's cache).
# Prints the later checks as a ratio to `validate` of the tree.
#
# Usage: cargo build --release && bench/draft_bench.sh
#        N=100000 CHECKS=20 bench/draft_bench.sh
# Needs: bash, curl, python3, GNU date (%N).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-10000}
CHECKS=${CHECKS:-15}
ADSCHED=${ADSCHED:-$ROOT/target/release/adsched}
PYTHON=${PYTHON:-python3}
[[ -x $ADSCHED ]] || { echo "draft_bench: no $ADSCHED; run \`cargo build --release\`" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/adsched-draft-bench.XXXXXX")
DPID=
trap '[[ -z $DPID ]] || kill -TERM "$DPID" 2>/dev/null; wait 2>/dev/null; rm -rf -- "$WORK"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== draft bench: $("$ADSCHED" --version 2>/dev/null || echo adsched), $N schedules, $CHECKS checks"
mkdir -p "$WORK/schedules"
"$PYTHON" "$ROOT/bench/gen_schedules.py" "$WORK/schedules" "$N" > /dev/null

t0=$(now_ms)
"$ADSCHED" validate --format json --templates "$ROOT/templates" "$WORK/schedules" > /dev/null || true
validate_ms=$(( $(now_ms) - t0 ))

"$ADSCHED" daemon --schedules "$WORK/schedules" --templates "$ROOT/templates" --state "$WORK/state" \
  --listen "127.0.0.1:$port" > "$WORK/daemon.log" 2>&1 &
DPID=$!
until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null || true) == 200 ]]; do
  kill -0 "$DPID" 2>/dev/null || { echo "draft_bench: the daemon exited; see $WORK/daemon.log" >&2; exit 1; }
  sleep 0.05
done

# A new schedule for one of the generated products, as the form sends it.
body=$("$PYTHON" - "$WORK/schedules" <<'PY'
import json, os, sys
d = sys.argv[1]
first = sorted(f for f in os.listdir(d) if f.startswith("s-"))[0]
text = open(os.path.join(d, first)).read()
text = "\n".join("id: draft-bench" if l.startswith("id: ") else l for l in text.splitlines()) + "\n"
print(json.dumps({"yaml": text, "path": "drafts/new.yaml"}))
PY
)
times=()
for _ in $(seq "$CHECKS"); do
  out=$(curl -s -w ' %{time_total}' -H 'content-type: application/json' -d "$body" \
    "http://127.0.0.1:$port/api/v1/validate")
  [[ $out == '{"valid":true'* ]] || { echo "draft_bench: unexpected answer: $out" >&2; exit 1; }
  times+=("${out##* }")
done

"$PYTHON" - "$N" "$validate_ms" "${times[@]}" <<'PY'
import statistics, sys
n, validate_ms = int(sys.argv[1]), int(sys.argv[2])
ms = [float(t) * 1000 for t in sys.argv[3:]]
first, later = ms[0], statistics.median(ms[1:])
print(f"validate of the tree {validate_ms} ms; first check {first:.0f} ms; later checks median {later:.0f} ms"
      f" (min {min(ms[1:]):.0f}, max {max(ms[1:]):.0f})")
print()
print("| schedules | validate of the tree | first check | later checks (median) | later / validate |")
print("|---|---|---|---|---|")
print(f"| {n} | {validate_ms} ms | {first:.0f} ms | {later:.0f} ms | {later / validate_ms:.2f}x |")
PY
