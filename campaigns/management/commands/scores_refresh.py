import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.scores import scores_refresh


class Command(BaseCommand):
    help = (
        "Recompute every member's scores (RFM quintiles, 12-month visits and "
        "spend, main location, favourite specialist) as of a business date, in "
        "a few set-based statements. Running it again for the same date writes "
        "nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            metavar="YYYY-MM-DD",
            help="Business date to compute for (default: today; not later than "
            "today). A past date counts only the visits paid by its end.",
        )

    def handle(self, *args, date=None, **options):
        today = timezone.localdate()
        on = today if date is None else self._date(date, today)
        self.stdout.write(f"Refreshing member scores for {on}…")
        result = scores_refresh(on)
        self.stdout.write(
            self.style.SUCCESS(f"{result.on} scores done")
            + f" {result.seconds:8.3f}s  {result.scored} member(s) scored, "
            f"{result.written} row(s) written, {result.deleted} deleted"
        )

    def _date(self, value: str, today: datetime.date) -> datetime.date:
        try:
            on = datetime.date.fromisoformat(value)
        except ValueError as exc:
            raise CommandError(f"Bad --date {value!r}: expected YYYY-MM-DD.") from exc
        if on > today:
            raise CommandError(
                f"--date {on} is in the future (today is {today}): scores are "
                "computed for dates that have begun."
            )
        return on
