import csv
import json

from django.core.management.base import BaseCommand, CommandError

from analytics import kpis
from analytics.db import heavy_reads
from analytics.management.commands.analytics_refresh import parse_day
from analytics.selectors import kpis_from_aggregates
from analytics.tables import Filters
from members.models import Location
from rewards.models import Tier

FIELDS = ["name", "value", "numerator", "denominator"]


def plain(value):
    """Decimals as exact strings (JSON has no decimal); None stays None."""
    return value if value is None or isinstance(value, int) else str(value)


class Command(BaseCommand):
    help = (
        "Print the program's KPIs for a period, one row per KPI (name, value, "
        "numerator, denominator), as CSV or JSON: for BI tools and scripts. "
        "Rates are fractions (0.25 = 25%); money is in the program's currency."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD")
        parser.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD")
        parser.add_argument("--location", metavar="CODE", help="A location's code.")
        parser.add_argument("--tier", metavar="CODE", help="A tier's code.")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, day_from=None, day_to=None, **options):
        if not day_from or not day_to:
            raise CommandError("--from and --to are required (YYYY-MM-DD).")
        day_from, day_to = parse_day("--from", day_from), parse_day("--to", day_to)
        if day_to < day_from:
            raise CommandError(f"--to {day_to} is before --from {day_from}.")
        f = Filters(
            day_from,
            day_to,
            location_id=self._id(Location, "--location", options["location"]),
            tier_id=self._id(Tier, "--tier", options["tier"]),
        )
        with heavy_reads():  # distinct members over windows: room to hash
            got = kpis_from_aggregates(f)
        rows = [
            {
                "name": d.key,
                "value": plain(got[d.key].value),
                "numerator": plain(got[d.key].numerator),
                "denominator": plain(got[d.key].denominator),
            }
            for d in kpis.DEFINED
        ]
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        writer = csv.DictWriter(self.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    def _id(self, model, option: str, code: str | None) -> int | None:
        if code is None:
            return None
        found = model.objects.filter(code=code).values_list("pk", flat=True).first()
        if found is None:
            known = ", ".join(
                model.objects.order_by("code").values_list("code", flat=True)
            )
            raise CommandError(f"No {option[2:]} with code {code!r} (known: {known}).")
        return found
