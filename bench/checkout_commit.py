"""Visit commit throughput at the service level: ``checkout_commit`` under load.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python \\
        bench/checkout_commit.py [--clients 4] [--seconds 30 | --visits K]
        [--points 0.3] [--sync-off] [--profile N]
        [--pgbench-tps N | --pgbench-scale 10 --pgbench-clients 4
         --pgbench-seconds 20 | --no-pgbench]

Each client is a process with its own database connection (threads would share
one interpreter lock on 2 cores). Clients commit visits back to back for
``--seconds`` (or ``--visits`` each) for random members of the scaled demo
database (``bench/seed_demo.sh`` then ``manage.py points_backfill``): 1–3 random
service lines, and for ``--points`` of the visits whose member has points,
paying with as many points as the bill allows (capped by the max share). Every
visit is a new booking ("bench-<run>-<client>-<n>", source POS), so a rerun
adds visits rather than replaying them.

Reports visits/s over the wall time of the measured phase, latency percentiles
of the ``checkout_commit`` call alone (the member is loaded before the clock
starts, as the POS API will have it), and the SQL queries per commit (counted
on the warm-up commits), and where the time goes: CPU per commit of the client
process inside ``checkout_commit`` (Python, Django, psycopg) and of its
PostgreSQL backend (read from /proc when the server runs on this machine; it
includes the two small reads that pick the member). ``--sync-off`` sets ``synchronous_commit=off`` on the
clients' sessions: a comparison of what the commit's WAL flush costs, never the
headline figure. ``--profile N`` runs N commits in this process under cProfile
and prints where the time goes.

The machine's yardstick: right before the clients start, ``bench/pgbench.sh
SCALE CLIENTS SECONDS`` (pgbench TPC-B in a throwaway database; defaults 10, 4,
20) gives this machine's tps, or ``--pgbench-tps N`` gives it without running
pgbench (``--no-pgbench``: neither). The result line then also says visits/s ÷
tps, the figure to compare between machines, beside issue #11's targets:
≥ 0.09 of pgbench tps, and 400 visits/s with 4 clients in absolute terms.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Timed as production runs: DEBUG on would wrap every statement in the query
# log (+27 % Python function calls per checkout_commit).
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

# bench/ is on sys.path when this runs as bench/checkout_commit.py.
from api_load import pgbench_args, pgbench_tps  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from members.models import Location, Member, Service, Visit  # noqa: E402
from members.services import VisitLineInput  # noqa: E402
from rewards.models import Wallet  # noqa: E402
from rewards.selectors import program_settings  # noqa: E402
from rewards.services import checkout_commit  # noqa: E402

WARMUP = 20  # commits per client before the clock starts
# Issue #11: visits/s ÷ pgbench TPC-B tps (scale 10, 4 clients), and the
# absolute figure with 4 clients.
TARGET_RATIO = 0.09
TARGET_VISITS_4_CLIENTS = 400


class Client:
    """One POS terminal: its own connection, members, random baskets."""

    def __init__(self, *, index: int, run: str, points_share: float, sync_off: bool):
        self.index, self.run = index, run
        self.rnd = random.Random(f"{run}:{index}")
        self.points_share = points_share
        if sync_off:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
        self.top = Member.objects.aggregate(m=Max("id"))["m"] or 0
        if not self.top:
            sys.exit("No members: run bench/seed_demo.sh first.")
        self.locations = list(Location.objects.filter(is_active=True))
        self.services = list(Service.objects.filter(is_active=True))
        settings = program_settings()
        self.max_share = float(settings.max_points_share) / 100
        self.per_point = float(settings.money_per_point)
        self.n = 0
        self.cpu = 0.0  # process CPU seconds inside checkout_commit
        self.points_visits = 0
        self.refused = 0

    def prepare(self) -> dict:
        """A random active member and basket, read before the clock starts."""
        while True:
            member = Member.objects.filter(
                pk=self.rnd.randint(1, self.top), status=Member.Status.ACTIVE
            ).first()
            if member is not None:
                break
        services = self.rnd.sample(self.services, self.rnd.randint(1, 3))
        points = 0
        if self.rnd.random() < self.points_share:
            available = (
                Wallet.objects.filter(pk=member.pk)
                .values_list("available", flat=True)
                .first()
            )
            if available:
                # The tier discount (at most 20%) comes off before the cap.
                gross = float(sum(s.base_price for s in services))
                cap = int(gross * 0.8 * self.max_share / self.per_point)
                points = max(0, min(available, cap))
        self.n += 1
        return {
            "member": member,
            "location": self.rnd.choice(self.locations),
            "lines": [VisitLineInput(service=s) for s in services],
            "points_to_use": points,
            "external_id": f"bench-{self.run}-{self.index}-{self.n}",
            "source": Visit.Source.POS,
        }

    def commit(self, kwargs: dict) -> float:
        cpu = time.process_time()
        started = time.perf_counter()
        try:
            checkout_commit(**kwargs)
        except ValidationError:
            # e.g. the member's points moved meanwhile: still a round trip.
            self.refused += 1
        else:
            self.points_visits += bool(kwargs["points_to_use"])
        elapsed = time.perf_counter() - started
        self.cpu += time.process_time() - cpu
        return elapsed


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def backend_cpu() -> float | None:
    """CPU seconds the PostgreSQL backend of this connection has used so far
    (when the server runs on this machine and /proc is readable)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wal_position() -> int | None:
    """Bytes of WAL the server has written so far (the whole cluster's)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
        return int(cursor.fetchone()[0])


def client_main(index, run, args, start_at, queue) -> None:
    client = Client(
        index=index, run=run, points_share=args.points, sync_off=args.sync_off
    )
    with CaptureQueriesContext(connection) as ctx:
        counts = []
        for _ in range(WARMUP):
            kwargs = client.prepare()
            before = len(ctx.captured_queries)
            client.commit(kwargs)
            counts.append(len(ctx.captured_queries) - before)
    while time.time() < start_at:
        time.sleep(0.001)
    client.refused = client.points_visits = 0
    client.cpu = 0.0
    timings = []
    server_before = backend_cpu()
    process_before = time.process_time()
    began = time.perf_counter()
    deadline = began + args.seconds if args.seconds else None
    while True:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        if args.visits and len(timings) >= args.visits:
            break
        timings.append(client.commit(client.prepare()))
    wall = time.perf_counter() - began
    server_after = backend_cpu()
    server = None if server_before is None else server_after - server_before
    queue.put(
        {
            "timings": timings,
            "wall": wall,
            "cpu": client.cpu,
            "process": time.process_time() - process_before,
            "server": server,
            "busy": sum(timings),
            "queries": statistics.median(counts),
            "points": client.points_visits,
            "refused": client.refused,
        }
    )


def profile(args) -> None:
    import cProfile
    import pstats

    client = Client(index=0, run=f"p{int(time.time())}", points_share=args.points,
                    sync_off=args.sync_off)  # fmt: skip
    batches = [client.prepare() for _ in range(args.profile)]
    prof = cProfile.Profile()
    prof.enable()
    for kwargs in batches:
        client.commit(kwargs)
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--visits", type=int, default=0, help="per client")
    parser.add_argument("--points", type=float, default=0.3)
    parser.add_argument("--sync-off", action="store_true")
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument(
        "--no-pgbench",
        action="store_true",
        help="neither run pgbench nor print the ratio",
    )
    pgbench_args(parser)
    args = parser.parse_args()
    if args.visits:
        args.seconds = 0
    if args.profile:
        profile(args)
        return
    connection.close()  # the clients are new processes; ours idles meanwhile
    tps = None if args.no_pgbench else pgbench_tps(args)
    load_before = os.getloadavg()[0]  # others' work on the machine skews it all
    run = f"{int(time.time())}"
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 8 + args.clients  # after every client's warm-up
    procs = [
        ctx.Process(target=client_main, args=(i, run, args, start_at, queue))
        for i in range(args.clients)
    ]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.01)
    machine_before = machine_cpu()
    wal_before = wal_position()
    results = [queue.get() for _ in procs]
    machine_after = machine_cpu()
    wal_after = wal_position()
    connection.close()
    for p in procs:
        p.join()
    timings = sorted(t for r in results for t in r["timings"])
    n = len(timings)
    wall = max(r["wall"] for r in results)
    pct = {q: timings[min(n - 1, int(n * q))] * 1000 for q in (0.5, 0.95, 0.99)}
    cpu = sum(r["cpu"] for r in results) / n * 1000
    servers = [r["server"] for r in results]
    server = (
        f"{sum(servers) / n * 1000:.1f} ms"
        if all(s is not None for s in servers)
        else "n/a"
    )
    machine = "n/a"
    if machine_before and machine_after and all(s is not None for s in servers):
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        ours = sum(r["process"] for r in results) + sum(servers)
        machine = (
            f"{busy:.0f} of {total:.0f} core-seconds busy: this benchmark's "
            f"clients and backends {ours:.0f}, everything else {busy - ours:.0f}"
        )
    print(
        f"checkout_commit, {args.clients} client(s), "
        f"{'sync off' if args.sync_off else 'synchronous_commit on'}, "
        f"{Member.objects.aggregate(m=Max('id'))['m']:,} members: "
        f"{n:,} visits in {wall:.1f} s = {n / wall:,.0f} visits/s; "
        f"latency p50 {pct[0.5]:.1f} ms, p95 {pct[0.95]:.1f} ms, "
        f"p99 {pct[0.99]:.1f} ms, mean {statistics.mean(timings) * 1000:.1f} ms; "
        f"{sum(r['points'] for r in results):,} paid partly with points, "
        f"{sum(r['refused'] for r in results)} refused; "
        f"CPU per commit: client (Python) {cpu:.1f} ms, server (PostgreSQL "
        f"backend) {server}; "
        f"load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores); machine CPU during the run: {machine}"
    )
    rate = n / wall
    queries = statistics.median(r["queries"] for r in results)
    wal = (
        f"; WAL per commit {(wal_after - wal_before) / n / 1024:.1f} kB "
        "(the server's, everything it wrote during the phase)"
        if wal_before is not None
        else ""
    )
    print(f"statements per commit (median of the warm-up commits): {queries:.0f}{wal}")
    if tps:
        ratio = rate / tps
        print(
            f"visits/s ÷ pgbench tps: {rate:,.0f} ÷ {tps:,.0f} = {ratio:.3f}; "
            f"target (#11) ≥ {TARGET_RATIO:.2f}: "
            f"{'met' if ratio >= TARGET_RATIO else 'MISSED'} "
            f"(≥ {TARGET_RATIO * tps:,.0f} visits/s on this machine)"
        )
    if args.clients == 4:
        print(
            f"absolute target (#11) {TARGET_VISITS_4_CLIENTS} visits/s with 4 "
            f"clients: {rate:,.0f} visits/s, "
            f"{'met' if rate >= TARGET_VISITS_4_CLIENTS else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
