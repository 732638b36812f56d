# Sourced by the benchmarks that compare the stores: a throwaway PostgreSQL
# from Debian's server binaries (/usr/lib/postgresql/<version>/bin), initdb
# and pg_ctl in a temporary folder on a free port, as the postgres user when
# run as root (initdb refuses root). Its settings are the defaults (fsync
# on): a commit is durable, as sled's flush is.
#
#   pg_available        true when the server binaries are installed
#   pg_start            starts it; sets PG_VERSION
#   pg_db NAME          creates database NAME, prints its postgres:// URL
#   pg_stop             stops it and removes its folder (safe to call twice)

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
pg_work=
pg_port=

pg_available() { [[ -n $pg_bin && -x $pg_bin/initdb ]]; }

pg_as_owner() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_start() {
  pg_work=$(mktemp -d /tmp/adsched-bench-pg.XXXXXX)
  chmod 755 "$pg_work"
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if [[ $(id -u) == 0 ]]; then chown postgres "$pg_work"; fi
  pg_as_owner "$pg_bin/initdb" -D "$pg_work/data" -U postgres --auth=trust >/dev/null
  pg_as_owner "$pg_bin/pg_ctl" -D "$pg_work/data" -o "-p $pg_port -k $pg_work -c listen_addresses=127.0.0.1" \
    -l "$pg_work/pg.log" -w start >/dev/null
  PG_VERSION=$("$pg_bin/postgres" --version)
}

pg_db() {
  pg_as_owner "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE $1" postgres
  echo "postgres://postgres@127.0.0.1:$pg_port/$1?sslmode=disable"
}

pg_stop() {
  [[ -n $pg_work ]] || return 0
  pg_as_owner "$pg_bin/pg_ctl" -D "$pg_work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_work"
  pg_work=
}
