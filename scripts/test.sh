#!/usr/bin/env bash
# Run the whole test suite. SQLite by default; set DATABASE_URL (and
# CELERY_BROKER_URL) to run the same suite on PostgreSQL (and Redis).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/members -k visit
source "$(dirname "$0")/_env.sh"
exec "$PY" -m pytest "$@"
