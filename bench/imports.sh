#!/usr/bin/env bash
# Time the importers at scale on a fresh PostgreSQL database.
#   bench/imports.sh [MEMBERS] [LINES]        (defaults: 1000000, 5000000)
# DATABASE_URL must name a database it may drop and recreate (its name starts
# with "regulars_bench"). The files are written to $IMPORT_FILES (default
# /tmp/regulars-import-bench) once and reused. Prints wall time, rows/s and
# the peak memory of each command; run bench/pgbench.sh beside it for the ratio.
source "$(dirname "$0")/../scripts/_env.sh"
# As production runs: DEBUG on keeps a log of the last 9,000 statements, each
# with its parameters (a chunk's 5,000 phones), hundreds of MB.
export DEBUG="${DEBUG:-false}"
MEMBERS="${1:-1000000}"
LINES="${2:-5000000}"
FILES="${IMPORT_FILES:-/tmp/regulars-import-bench}/${MEMBERS}-${LINES}"
: "${DATABASE_URL:?set DATABASE_URL to postgres://…/regulars_bench…}"
db="${DATABASE_URL##*/}"
case "$db" in regulars_bench*) ;; *) echo "refusing to drop $db" >&2; exit 2 ;; esac
admin_url="${DATABASE_URL%/*}/postgres"
psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py shell -c \
  "from members.demo import catalogue_ensure; catalogue_ensure(russian=True)"
if [ ! -f "$FILES/visits.csv" ]; then
  echo "==> writing $MEMBERS members and $LINES visit lines to $FILES"
  "$PY" bench/import_files.py "$FILES" "$MEMBERS" "$LINES"
fi
ls -l "$FILES"
timed() {  # label, rows, command…
  local label="$1" rows="$2"; shift 2
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "    peak memory %M kB" "$@"
  end=$(date +%s.%N)
  "$PY" -c "s = $end - $start; print(f'==> $label: {s:,.1f} s, {$rows / s:,.0f} rows/s')"
}
echo "==> $(uptime)"
timed "import_members ($MEMBERS rows)" "$MEMBERS" \
  "$PY" manage.py import_members "$FILES/members.csv" --no-progress
timed "import_visits ($LINES rows)" "$LINES" \
  "$PY" manage.py import_visits "$FILES/visits.csv" --no-progress --location center
timed "import_visits again, nothing to do ($LINES rows)" "$LINES" \
  "$PY" manage.py import_visits "$FILES/visits.csv" --no-progress --location center
echo "==> $(uptime)"
