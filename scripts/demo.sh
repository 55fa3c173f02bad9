#!/usr/bin/env bash
# Quickstart: install, migrate, load the demo chain, run web + Celery worker + beat.
# Stop everything with Ctrl+C. Settings come from the environment or .env.
source "$(dirname "$0")/_env.sh"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
LOG_DIR="${REGULARS_VAR_DIR:-$ROOT/var}/log"
mkdir -p "$LOG_DIR"

echo "==> Migrating the database"
"$PY" manage.py migrate --noinput
"$PY" manage.py setup_roles
"$PY" manage.py sync_beat_schedule
echo "==> Loading the demo chain (idempotent: a second run adds nothing)"
"$PY" manage.py seed_demo ${DEMO_MEMBERS:+--members "$DEMO_MEMBERS"}
echo "==> The demo program: rewards catalogue, premium earn rates, tier perks"
"$PY" manage.py seed_program_demo
echo "==> Points history of the demo members: balances, lots, tiers (idempotent)"
"$PY" manage.py points_backfill --spend-every 4
echo "==> Today's daily jobs: expire old points, review tiers, … (a re-run does nothing)"
"$PY" manage.py run_daily_jobs
echo "==> Demo vouchers: members with the most points buy rewards (idempotent)"
"$PY" manage.py seed_vouchers_demo
echo "==> Demo referrals: loyal members invite friends (idempotent)"
"$PY" manage.py seed_referrals_demo
echo "==> Demo promotions: happy hours, a themed month, a combo, code WELCOME… (idempotent)"
"$PY" manage.py seed_campaigns_demo
echo "==> Demo campaigns: win-back, birthday, cross-sell journeys and a finished send (idempotent)"
"$PY" manage.py seed_journeys_demo
echo "==> The dashboards' daily aggregates, from the whole demo history"
"$PY" manage.py analytics_rebuild
echo "==> API access for the demo: a member to sign in as (fixed code), a POS key"
eval "$("$PY" manage.py demo_api_access)"
DEMO_APP_CODE=123456
export OTP_TEST_NUMBERS="${OTP_TEST_NUMBERS:+$OTP_TEST_NUMBERS,}$DEMO_APP_PHONE:$DEMO_APP_CODE"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> Stopping worker and beat"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "==> Starting Celery worker and beat (logs in $LOG_DIR)"
"$VENV/bin/celery" -A config worker --loglevel INFO --concurrency 2 \
  >"$LOG_DIR/worker.log" 2>&1 &
pids+=($!)
"$VENV/bin/celery" -A config beat --loglevel INFO \
  --pidfile "$LOG_DIR/beat.pid" >"$LOG_DIR/beat.log" 2>&1 &
pids+=($!)

# A worker or beat that dies at start (a bad broker URL, say) must not go unseen.
sleep 4
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "A Celery process failed to start; the end of its log:" >&2
    tail -n 20 "$LOG_DIR/worker.log" "$LOG_DIR/beat.log" >&2
    exit 1
  fi
done

cat <<BANNER

  Regulars is running:  http://$HOST:$PORT/admin/
  Log in as  manager / regulars   (program manager)
        or   admin / regulars     (superuser)   ·  frontdesk, analyst: same password
  Health:    http://$HOST:$PORT/healthz
  API docs:  http://$HOST:$PORT/api/docs/
    app sign-in:  phone $DEMO_APP_PHONE, code $DEMO_APP_CODE (a test number: no SMS)
    POS key ($DEMO_POS_LOCATION):  $DEMO_POS_KEY
  Stop with Ctrl+C.

BANNER
"$PY" manage.py runserver "$HOST:$PORT"
