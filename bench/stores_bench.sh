#!/usr/bin/env bash
# PostgreSQL next to sled, in one run (issue 15; SPEC 7): each figure on both
# stores and the ratio PostgreSQL / sled (goal: within 2x).
#
#   1. start-up: the daemon's first start to ready with N schedules (the
#      first reconcile stores all N), from examples/fire_jobs_bench.rs
#   2. firing N due no-op jobs, from T until all N runs ended (same run)
#   3. the latest 50 runs of a schedule with RUNS runs, and a start's look
#      for the runs a crash left running, examples/runs_query_bench.rs
#   4. one scheduler look with TICK_N schedules stored and one due, from
#      the store's index of wake times, examples/tick_bench.rs (which also
#      prints what reading every schedule would cost)
#   5. the p99 of a schedule's latest 50 runs from the API and of the
#      dashboard's schedule page with API_N schedules and API_RUNS runs,
#      each against GET /healthz, examples/api_latency_bench.rs
#
# A throwaway PostgreSQL is started for the run (bench/pg.sh) and stopped
# at the end.
#
# Usage: cargo build --release --examples && bench/stores_bench.sh
#        N=1000 RUNS=10000 API_RUNS=100000 bench/stores_bench.sh  (small sizes)
#        ONLY="api" bench/stores_bench.sh                        (some steps)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-10000}
RUNS=${RUNS:-100000}
TICK_N=${TICK_N:-100000}
API_N=${API_N:-10000}
API_RUNS=${API_RUNS:-1000000}
# ONLY="fire query tick api": a subset of the steps (default: all).
ONLY=${ONLY:-fire query tick api}
want() { [[ " $ONLY " == *" $1 "* ]]; }
FJ=$ROOT/target/release/examples/fire_jobs_bench
RQ=$ROOT/target/release/examples/runs_query_bench
TK=$ROOT/target/release/examples/tick_bench
AL=$ROOT/target/release/examples/api_latency_bench
for b in "$FJ" "$RQ" "$TK" "$AL"; do
  [[ -x $b ]] || { echo "stores_bench: not built: $b; run \`cargo build --release --examples\`" >&2; exit 1; }
done

source "$ROOT/bench/pg.sh"
pg_available || { echo "stores_bench: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
pg_start
trap pg_stop EXIT
version=$PG_VERSION
db() { pg_db "$1"; }
field() { sed -n "s/.*RESULT.*$2=\([0-9.]*\).*/\1/p" <<<"$1" | tail -1; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "== stores bench: N=$N schedules, RUNS=$RUNS runs; $version on 127.0.0.1:$pg_port"
# both NAME DB BIN ARGS...: BIN ARGS on sled, then on a new PostgreSQL
# database DB; their outputs in NAME_sled and NAME_pg.
both() {
  local name=$1 dbname=$2 bin=$3
  shift 3
  echo "-- $dbname, sled"
  printf -v "${name}_sled" '%s' "$("$bin" "$@" | tee >(cat >&2))"
  echo "-- $dbname, postgres"
  printf -v "${name}_pg" '%s' "$("$bin" "$@" --store "$(db "$dbname")" | tee >(cat >&2))"
}
if want fire; then both fj fire_jobs "$FJ" "$N"; fi
if want query; then both rq runs_query "$RQ" "$RUNS"; fi
if want tick; then both tk tick "$TK" "$TICK_N"; fi
if want api; then both al api_latency "$AL" "$API_N" "$API_RUNS"; fi

echo
echo "| figure | sled | PostgreSQL | PostgreSQL / sled |"
echo "|---|---|---|---|"
if want fire; then
  ready_sled=$(field "$fj_sled" ready_s); ready_pg=$(field "$fj_pg" ready_s)
  fire_sled=$(field "$fj_sled" seconds); fire_pg=$(field "$fj_pg" seconds)
  echo "| first start to ready, $N schedules | ${ready_sled} s | ${ready_pg} s | $(ratio "$ready_pg" "$ready_sled")x |"
  echo "| fire $N due no-op jobs, T to all ended | ${fire_sled} s | ${fire_pg} s | $(ratio "$fire_pg" "$fire_sled")x |"
  fl_sled=$(field "$fj_sled" flushes_per_run); fl_pg=$(field "$fj_pg" flushes_per_run)
  echo "| store flushes per run while firing (goal: at most 2) | ${fl_sled} | ${fl_pg} | |"
fi
if want query; then
  q_sled=$(field "$rq_sled" big_ms); q_pg=$(field "$rq_pg" big_ms)
  echo "| latest 50 runs of a schedule with $RUNS | ${q_sled} ms | ${q_pg} ms | $(ratio "$q_pg" "$q_sled")x |"
  r_sled=$(field "$rq_sled" running_ms); r_pg=$(field "$rq_pg" running_ms)
  echo "| a start's look for runs left running, $RUNS stored | ${r_sled} ms | ${r_pg} ms | $(ratio "$r_pg" "$r_sled")x |"
fi
if want tick; then
  tk_s=$(field "$tk_sled" tick_ms); tk_p=$(field "$tk_pg" tick_ms)
  echo "| one scheduler look, $TICK_N schedules, one due | ${tk_s} ms (all read: $(field "$tk_sled" scan_ms) ms) | ${tk_p} ms (all read: $(field "$tk_pg" scan_ms) ms) | $(ratio "$tk_p" "$tk_s")x |"
fi
if want api; then
  for f in api_p99_ms page_p99_ms floor_p99_ms; do
    declare "${f}_s=$(field "$al_sled" $f)" "${f}_p=$(field "$al_pg" $f)"
  done
  echo "| p99 GET /api/v1/schedules/{id}/runs?limit=50, $API_N schedules, $API_RUNS runs | ${api_p99_ms_s} ms | ${api_p99_ms_p} ms | $(ratio "$api_p99_ms_p" "$api_p99_ms_s")x |"
  echo "| p99 of the dashboard's schedule page, same store | ${page_p99_ms_s} ms | ${page_p99_ms_p} ms | $(ratio "$page_p99_ms_p" "$page_p99_ms_s")x |"
  echo "| p99 GET /healthz (the floor) | ${floor_p99_ms_s} ms | ${floor_p99_ms_p} ms | |"
fi
