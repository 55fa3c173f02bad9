"""Response time of the busiest admin pages on the current database.

    DATABASE_URL=... .venv/bin/python bench/admin_pages.py [NAME-FILTER]

Run after ``seed_demo --members 1000000`` (and ``analytics_rebuild`` for the
dashboards' aggregates): it logs in as the demo superuser and times each page
(best and median of 5, in ms) with its number of SQL queries. The home page
and every dashboard of ``analytics.dashboards.DASHBOARDS`` are timed with
their default filters (the last 30 days) and over the last 12 months; the
goal is 300 ms each on 1M members / 20M visits.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from analytics.dashboards import DASHBOARDS  # noqa: E402
from members.models import Member  # noqa: E402
from referrals.models import Referral  # noqa: E402


def main() -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    member = Member.objects.filter(visits_count__gt=10).order_by("pk").first()
    phone = member.phone.as_e164
    top = (
        Referral.objects.values("referrer_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("referrer_id", flat=True)
        .first()
    )
    local = "8 " + phone[2:5] + " " + phone[5:8] + "-" + phone[8:10] + "-" + phone[10:]
    pages = [
        ("member list", "/admin/members/member/"),
        ("member search: phone typed locally", f"/admin/members/member/?q={local}"),
        ("member search: last name", f"/admin/members/member/?q={member.last_name}"),
        ("member filter: birthday month", "/admin/members/member/?birthday_month=3"),
        (
            "member filter: last visit 90-180",
            "/admin/members/member/?last_visit=90-180",
        ),
        (
            "member page with visit history",
            f"/admin/members/member/{member.pk}/change/",
        ),
        ("visit list", "/admin/members/visit/"),
        ("visit filter: refunded", "/admin/members/visit/?status__exact=refunded"),
        (
            "member autocomplete",
            "/admin/autocomplete/?app_label=members&model_name=visit"
            f"&field_name=member&term={phone[2:]}",
        ),
        ("checkout page (record a visit)", "/admin/rewards/checkout/"),
        ("referral list", "/admin/referrals/referral/"),
        ("referral filter: rewarded", "/admin/referrals/referral/?status=rewarded"),
        ("referral search: phone", f"/admin/referrals/referral/?q={phone[2:]}"),
        ("referrals of the top referrer", f"/admin/referrals/referral/?referrer={top}"),
        ("review queue", "/admin/referrals/heldreferral/"),
        ("referrer summary", "/admin/referrals/referrer/"),
        ("referral program", "/admin/referrals/referralprogram/1/change/"),
        ("home", "/admin/"),
        ("dashboards index", reverse("analytics:index")),
    ]
    for entry in DASHBOARDS:
        path = reverse("analytics:dashboard", kwargs={"key": entry.key})
        pages.append((f"dashboard {entry.key}", path))
        pages.append((f"dashboard {entry.key}, 12 months", f"{path}?preset=last12"))
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    pages = [(name, url) for name, url in pages if only in name]
    print(f"{Member.objects.count():,} members")
    for name, url in pages:
        timings = []
        for _ in range(5):
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(
            f"{name:40} best {min(timings):7.1f} ms  median "
            f"{statistics.median(timings):7.1f} ms  {len(queries):3} queries"
        )


if __name__ == "__main__":
    main()
