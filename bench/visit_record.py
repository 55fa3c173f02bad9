"""Latency of ``visit_record``, the hot write path, on the current database.

    DATABASE_URL=... .venv/bin/python bench/visit_record.py [N]

Records N visits (default 2,000) for random existing members, one transaction
each as the POS API will, then reports throughput and latency percentiles. Run
it after ``seed_demo --members 1000000`` to see the path on a big table. The
visits are recorded with source "import" and external ids "bench-…", so a second
run replays them (the idempotent path) instead of adding more.
"""

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Timed as production runs: DEBUG on would wrap every statement in the query
# log (+27 % Python function calls per checkout_commit).
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.db.models import Max  # noqa: E402

from members.models import Location, Member, Service, Visit  # noqa: E402
from members.services import VisitLineInput, visit_record  # noqa: E402

FIRST_PAID_AT = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)


def main(n: int) -> None:
    rnd = random.Random(7)
    top = Member.objects.aggregate(m=Max("id"))["m"]
    if not top:
        sys.exit("No members: run manage.py seed_demo first.")
    locations = list(Location.objects.filter(is_active=True))
    services = list(Service.objects.filter(is_active=True))
    members = {
        m.pk: m
        for m in Member.objects.filter(
            pk__in=[rnd.randint(1, top) for _ in range(n * 2)],
            status=Member.Status.ACTIVE,
        )
    }
    ids = list(members)
    timings, created = [], 0
    for i in range(n):
        member = members[ids[i % len(ids)]]
        lines = [
            VisitLineInput(service=s) for s in rnd.sample(services, rnd.randint(1, 3))
        ]
        started = time.perf_counter()
        result = visit_record(
            member=member,
            location=rnd.choice(locations),
            lines=lines,
            source=Visit.Source.IMPORT,
            external_id=f"bench-{i}",
            paid_at=FIRST_PAID_AT + timedelta(minutes=i),
        )
        timings.append(time.perf_counter() - started)
        created += result.created
    timings.sort()
    total = sum(timings)
    print(
        f"{n} visit_record calls ({created} new, {n - created} replays) on "
        f"{top:,} members: {n / total:,.0f}/s, "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {timings[int(n * 0.95)] * 1000:.1f} ms, "
        f"p99 {timings[int(n * 0.99)] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000)
