import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.aggregates import aggregates_refresh


def parse_day(name: str, value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Bad {name} {value!r}: expected YYYY-MM-DD.") from exc


class Command(BaseCommand):
    help = (
        "Recompute the analytics aggregates of a day or a range of days (local "
        "dates), and the earlier days their events changed (cancellations, "
        "refunds, expiries, open 30-day retention windows) and the cohorts. "
        "Set-based and idempotent: running it again writes the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", metavar="YYYY-MM-DD", help="One day.")
        parser.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD")
        parser.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD")
        parser.add_argument(
            "--no-reach-back",
            action="store_true",
            help="Only the days asked for (not the days their events changed).",
        )

    def handle(self, *args, date=None, day_from=None, day_to=None, **options):
        today = timezone.localdate()
        if date and (day_from or day_to):
            raise CommandError("Give --date or --from/--to, not both.")
        if date:
            day_from = day_to = parse_day("--date", date)
        elif day_from or day_to:
            if not (day_from and day_to):
                raise CommandError("--from and --to go together.")
            day_from, day_to = parse_day("--from", day_from), parse_day("--to", day_to)
        else:
            day_from = day_to = today
        if day_to < day_from:
            raise CommandError(f"--to {day_to} is before --from {day_from}.")
        if day_to > today:
            raise CommandError(f"{day_to} is in the future (today is {today}).")
        self.stdout.write(f"Refreshing analytics for {day_from} – {day_to}…")
        result = aggregates_refresh(
            day_from,
            day_to,
            reach_back=not options["no_reach_back"],
            progress=self.stdout.write,
        )
        self.stdout.write(
            self.style.SUCCESS("Done")
            + f" {result.seconds:8.3f}s  {len(result.days)} day(s), "
            f"{result.rows} row(s), {result.cohort_rows} cohort row(s)"
        )
