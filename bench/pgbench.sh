#!/usr/bin/env bash
# The physical reference for the other benchmarks: pgbench's TPC-B-like test on
# this machine's PostgreSQL, in a throwaway database that is dropped afterwards.
#   bench/pgbench.sh [SCALE] [CLIENTS] [SECONDS]      (defaults: 10, 4, 60)
# PGBENCH_URL is the server (default postgres://postgres@127.0.0.1:5432).
# Extra pgbench options go in PGBENCH_OPTS, e.g. PGBENCH_OPTS="-N" for the
# simple-update variant, or PGBENCH_SYNC_OFF=1 to run with synchronous_commit=off.
set -euo pipefail
SCALE="${1:-10}"
CLIENTS="${2:-4}"
SECONDS_="${3:-60}"
URL="${PGBENCH_URL:-postgres://postgres@127.0.0.1:5432}"
DB="regulars_pgbench"

psql "$URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
trap 'psql "$URL/postgres" -qc "DROP DATABASE IF EXISTS $DB"' EXIT
if [ -n "${PGBENCH_SYNC_OFF:-}" ]; then
  psql "$URL/postgres" -qc "ALTER DATABASE $DB SET synchronous_commit TO off"
fi
echo "==> pgbench -i -s $SCALE"
pgbench -i -q -s "$SCALE" "$URL/$DB"
echo "==> pgbench TPC-B: $CLIENTS clients, ${SECONDS_} s, $(nproc) cores; $(uptime)"
# -j: one pgbench thread per core at most; -r: per-statement latencies.
pgbench -c "$CLIENTS" -j "$(( CLIENTS < $(nproc) ? CLIENTS : $(nproc) ))" \
  -T "$SECONDS_" -P 10 -r ${PGBENCH_OPTS:-} "$URL/$DB"
echo "==> done; $(uptime)"
