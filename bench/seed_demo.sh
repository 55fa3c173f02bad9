#!/usr/bin/env bash
# Time the demo generator at scale on a fresh database.
#   bench/seed_demo.sh [MEMBERS] [JOBS]        (defaults: 1000000, 2)
# Uses DATABASE_URL when set (must point at a database it may drop and
# recreate: its name must start with "regulars_bench"), else a fresh SQLite file.
source "$(dirname "$0")/../scripts/_env.sh"
MEMBERS="${1:-1000000}"
JOBS="${2:-2}"
if [ -n "${DATABASE_URL:-}" ]; then
  db="${DATABASE_URL##*/}"
  case "$db" in regulars_bench*) ;; *) echo "refusing to drop $db" >&2; exit 2 ;; esac
  admin_url="${DATABASE_URL%/*}/postgres"
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
else
  export REGULARS_VAR_DIR="$(mktemp -d)"
fi
"$PY" manage.py migrate --noinput -v0
start=$(date +%s.%N)
"$PY" manage.py seed_demo --members "$MEMBERS" --jobs "$JOBS" --chunk-size 10000 --today 2026-11-23
end=$(date +%s.%N)
"$PY" - <<PY
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django.setup()
from members.models import Member, Visit, VisitLine
secs = $end - $start
m, v, l = Member.objects.count(), Visit.objects.count(), VisitLine.objects.count()
print(f"{m:,} members, {v:,} visits, {l:,} lines in {secs:,.0f} s "
      f"= {m / secs:,.0f} members/s, {(m + v + l) / secs:,.0f} rows/s")
PY
