"""``manage.py export_visits FILE [--since DATE] [--until DATE]``: visits, one
row per line, to CSV or XLSX."""

from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from members import exports
from members.management.commands._export_file import export_file, file_kind_check
from members.models import Visit, VisitLine


def _day_start(day: date) -> datetime:
    """Midnight of ``day`` in the business's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = (
        "Export visits (one row per visit line) to FILE: CSV or XLSX by its "
        "extension. --since and --until are days in the business's time zone, "
        "both included."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path ending in .csv or .xlsx")
        parser.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--until", type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        path = opts["file"]
        file_kind_check(path)
        since, until = opts["since"], opts["until"]
        if since and until and since > until:
            raise CommandError("--since is after --until")
        visits = Visit.objects.all()
        if since:
            visits = visits.filter(paid_at__gte=_day_start(since))
        if until:
            visits = visits.filter(paid_at__lt=_day_start(until + timedelta(days=1)))
        written = export_file(
            self,
            opts,
            headers=exports.VISIT_HEADERS,
            rows=exports.visit_rows(visits),
            total=VisitLine.objects.filter(visit__in=visits.values("pk")).count(),
            unit="line",
            desc="Visit lines",
            title="visits",
        )
        self.stdout.write(self.style.SUCCESS(f"{written} row(s) written to {path}"))
