"""POS load while the app's database connections are killed: nothing lost or doubled.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/regulars_bench_faults \\
      .venv/bin/python bench/faults.py [--seconds 45] [--clients 6] \\
      [--kill-every 4] [--workers 3] [--members 500]

Issue #11: a database that blinks answers the API with 503
``service_unavailable`` and ``Retry-After``, and a POS that retries the same
booking gets exactly one visit. Against a small demo database
(``bench/seed_demo.sh 3000 1`` then ``manage.py points_backfill``; the name
must start with ``regulars_bench``) the script

1. prepares a POS key and member tokens (``bench/api_load.py``'s ``prepare``);
2. starts gunicorn with production settings whose database connections carry
   ``application_name=regulars-faults-app``;
3. runs ``--clients`` POS threads, each sending new bookings (a random member,
   1–2 random services); a booking answered 503, 502 or with a broken
   connection is sent again with the same ``external_id`` and body (after
   ``Retry-After`` for a 503) until it gets its 201. One more thread reads
   ``GET me/points`` as random members: it must never see a 401 or a 500;
4. every ``--kill-every`` seconds (± 30 %) terminates every backend of the
   app (``pg_terminate_backend`` by ``application_name``; nothing else in the
   database is touched);
5. stops the load, then checks: every booking sent is exactly one visit; each
   visit has one EARN entry when its 201 said it earned points (of that
   amount) and none otherwise; one lot per earn entry; ``verify_ledger``
   (``rewards.verify.ledger_verify``) finds nothing; no answer other than
   201, 503 or a broken connection.

Prints a short report and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

from bench.api_load import prepare, production_env  # noqa: E402

APP_NAME = "regulars-faults-app"
VISITS = "/api/v1/pos/visits"
POINTS = "/api/v1/me/points"
# A booking still not recorded after this long counts as lost.
BOOKING_DEADLINE_SECONDS = 60.0


@dataclass
class Tally:
    """What the clients saw; one lock for all threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)  # (path, status)
    broken: int = 0  # connection reset / refused / timed out
    replayed: int = 0  # a retry's 201 said "Idempotent-Replayed"
    retried_bookings: int = 0
    # external_id -> points_earned of its 201
    recorded: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def saw(self, path: str, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.broken += 1
            else:
                self.statuses[(path, status)] += 1


def send(port: int, method: str, path: str, body: bytes | None, headers: dict):
    """(status, headers, body) or None when the connection broke."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def pos_client(
    n: int, port: int, data: dict, run: str, stop: threading.Event, tally: Tally
) -> None:
    rnd = random.Random(f"{run}-{n}")
    headers = {"X-Api-Key": data["key"], "Content-Type": "application/json"}
    counter = 0
    while not stop.is_set():
        counter += 1
        external_id = f"{run}-{n}-{counter}"
        services = rnd.sample(data["services"], 2 if rnd.random() < 0.4 else 1)
        body = json.dumps(
            {
                "member_id": rnd.choice(data["members"]),
                "external_id": external_id,
                "lines": [{"service": s} for s in services],
            }
        ).encode()
        deadline = time.monotonic() + BOOKING_DEADLINE_SECONDS
        attempts = 0
        # The booking in hand is finished even after ``stop``: a till does not
        # give up a paid visit because the shift ended.
        while True:
            attempts += 1
            answer = send(port, "POST", VISITS, body, headers)
            tally.saw(VISITS, answer[0] if answer else None)
            if answer and answer[0] == 201:
                earned = json.loads(answer[2])["points_earned"]
                with tally.lock:
                    tally.recorded[external_id] = earned
                    tally.replayed += answer[1].get("Idempotent-Replayed") == "true"
                    tally.retried_bookings += attempts > 1
                break
            if answer and answer[0] not in (502, 503):
                with tally.lock:
                    tally.unexpected.append(
                        f"{external_id}: {answer[0]} {answer[2][:200]!r}"
                    )
                break
            if time.monotonic() > deadline:
                with tally.lock:
                    tally.lost.append(external_id)
                break
            wait = 0.2
            if answer:
                wait = min(float(answer[1].get("Retry-After", 1)), 5.0)
            time.sleep(wait)


def points_reader(
    port: int, data: dict, stop: threading.Event, tally: Tally, seed: str
) -> None:
    rnd = random.Random(seed)
    while not stop.is_set():
        token = rnd.choice(data["tokens"])
        answer = send(port, "GET", POINTS, None, {"Authorization": f"Bearer {token}"})
        tally.saw(POINTS, answer[0] if answer else None)
        if answer and answer[0] not in (200, 502, 503):
            with tally.lock:
                tally.unexpected.append(
                    f"GET me/points: {answer[0]} {answer[2][:200]!r}"
                )
        time.sleep(0.02)


def killer(
    dsn: str, every: float, stop: threading.Event, kills: list[int], seed: str
) -> None:
    """Terminate the app's backends every ``every`` seconds (± 30 %)."""
    import psycopg

    rnd = random.Random(seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.wait(every * rnd.uniform(0.7, 1.3)):
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = %s",
                [APP_NAME],
            ).fetchone()
            kills.append(row[0])


def with_app_name(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "application_name"]
    query.append(("application_name", APP_NAME))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def start_gunicorn(args, url: str, log) -> subprocess.Popen:
    env = production_env(
        DATABASE_URL=with_app_name(url),
        # Clients honour Retry-After; a bench cannot wait the default 5 s.
        API_RETRY_AFTER_SECONDS=str(args.retry_after),
    )
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited ({proc.returncode}); is port {port} free?")
        answer = send(port, "GET", "/healthz", None, {})
        if answer and answer[0] == 200:
            return
        time.sleep(0.3)
    sys.exit("gunicorn did not answer /healthz")


def check(run: str, tally: Tally) -> tuple[list[str], dict]:
    """Every booking one visit, one earn per earning visit, one lot per earn."""
    from django.db import connection
    from django.db.models import Count

    from members.models import Visit
    from rewards.models import LedgerEntry, PointLot
    from rewards.verify import ledger_verify

    connection.close()  # killed with the others? start afresh
    problems = [
        f"lost (no 201 in {BOOKING_DEADLINE_SECONDS:.0f} s): {x}" for x in tally.lost
    ]
    problems += [f"unexpected answer: {x}" for x in tally.unexpected]
    visits = dict(
        Visit.objects.filter(
            source=Visit.Source.POS, external_id__startswith=f"{run}-"
        ).values_list("external_id", "pk")
    )
    sent = set(tally.recorded) | set(tally.lost)
    problems += [f"no visit for booking {x}" for x in sorted(sent - set(visits))]
    problems += [f"visit without a booking: {x}" for x in sorted(set(visits) - sent)]
    # external_id is unique among POS visits; a doubled one would show here.
    doubled = (
        Visit.objects.filter(source=Visit.Source.POS, external_id__in=list(visits))
        .values("external_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    problems += [f"booking {d['external_id']} is {d['n']} visits" for d in doubled]

    earns: dict[int, list[tuple[int, int]]] = {}
    for entry_id, visit_id, amount in LedgerEntry.objects.filter(
        visit_id__in=list(visits.values()), kind=LedgerEntry.Kind.EARN
    ).values_list("pk", "visit_id", "amount"):
        earns.setdefault(visit_id, []).append((entry_id, amount))
    for external_id, visit_id in visits.items():
        found = earns.get(visit_id, [])
        expected = tally.recorded.get(external_id)
        if len(found) > 1:
            problems.append(f"{external_id}: {len(found)} earn entries")
        elif expected and (not found or found[0][1] != expected):
            problems.append(
                f"{external_id}: answered {expected} earned, ledger {found}"
            )
        elif not expected and found:
            problems.append(f"{external_id}: answered 0 earned, ledger {found}")
    entry_ids = [e for found in earns.values() for e, _amount in found]
    lots = Counter(
        PointLot.objects.filter(entry_id__in=entry_ids).values_list(
            "entry_id", flat=True
        )
    )
    problems += [f"earn entry {e}: {lots[e]} lots" for e in entry_ids if lots[e] != 1]
    report = ledger_verify()
    problems += [f"verify_ledger: {p}" for p in report.problems]
    return problems, {
        "visits": len(visits),
        "earn_entries": len(entry_ids),
        "lots": sum(lots.values()),
        "ledger_entries_verified": report.entries,
        "verify_ledger_problems": report.problems_total,
    }


def load(args, url, data, run, tally, kills, gunicorn) -> float:
    """The clients and the killer for ``--seconds``; the wall time they took."""
    stop = threading.Event()
    wait_up(args.port, gunicorn)
    threads = [
        threading.Thread(target=pos_client, args=(n, args.port, data, run, stop, tally))
        for n in range(args.clients)
    ]
    threads.append(
        threading.Thread(target=points_reader, args=(args.port, data, stop, tally, run))
    )
    kill_thread = threading.Thread(
        target=killer, args=(url, args.kill_every, stop, kills, run)
    )
    started = time.monotonic()
    for t in [*threads, kill_thread]:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    kill_thread.join()
    for t in threads:
        t.join()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--clients", type=int, default=6, help="POS threads")
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if not url.startswith("postgres") or not name.startswith("regulars_bench"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database named regulars_bench…")

    data = prepare(args.members)
    run = f"faults{int(time.time())}"
    tally, kills = Tally(), []
    with tempfile.TemporaryFile(mode="w+") as log:
        gunicorn = start_gunicorn(args, url, log)
        try:
            wall = load(args, url, data, run, tally, kills, gunicorn)
        finally:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)
        log.seek(0)
        errors = log.read()

    problems, counts = check(run, tally)
    # The app's own log: 503s are one warning line each, tracebacks would be bugs.
    tracebacks = errors.count("Traceback")
    warnings = errors.count("Database unavailable")
    if tracebacks:
        problems.append(f"{tracebacks} traceback(s) in gunicorn's log")
    statuses = {f"{p} {s}": n for (p, s), n in sorted(tally.statuses.items())}
    print(
        f"\n== faults: {args.clients} POS clients + 1 points reader, {wall:.0f} s, "
        f"gunicorn {args.workers} workers, kills every ~{args.kill_every:g} s"
    )
    print(f"requests: {sum(tally.statuses.values()) + tally.broken}")
    for key, n in statuses.items():
        print(f"  {key}: {n}")
    print(f"  broken connections: {tally.broken}")
    print(
        f"kills: {len(kills)} rounds, {sum(kills)} backends terminated "
        f"(per round: {kills})"
    )
    print(
        f"bookings: {len(tally.recorded)} recorded, {tally.retried_bookings} "
        f"needed a retry, {tally.replayed} retries answered 'Idempotent-Replayed' "
        f"(committed before the connection died), {len(tally.lost)} lost"
    )
    print(
        f"database: {counts['visits']} visits, {counts['earn_entries']} earn "
        f"entries, {counts['lots']} lots; verify_ledger "
        f"{counts['ledger_entries_verified']} entries, "
        f"{counts['verify_ledger_problems']} problem(s)"
    )
    print(
        f"app log: {warnings} 'Database unavailable' warnings, {tracebacks} tracebacks"
    )
    print(f"problems: {len(problems)}")
    for p in problems[:50]:
        print(f"  {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
