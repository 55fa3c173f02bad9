import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.journeys import campaigns_run
from rewards.selectors import day_start


class Command(BaseCommand):
    help = (
        "Run the live campaigns now, as the beat task does every few minutes: "
        "end chains ended by a visit, enroll whom the triggers found, send the "
        "due steps. Idempotent: a second run sends nothing twice. With --date, "
        "as of the end of that (past) day: triggers are read as of then, within "
        "each campaign's catch-up days."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", metavar="YYYY-MM-DD", help="A past business date."
        )
        parser.add_argument(
            "--campaign", type=int, action="append", metavar="ID",
            help="Only this campaign (repeat for more).",
        )  # fmt: skip

    def handle(self, *args, date=None, campaign=None, **options):
        now = timezone.now()
        if date:
            try:
                on = datetime.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(
                    f"Bad --date {date!r}: expected YYYY-MM-DD."
                ) from exc
            if on > timezone.localdate(now):
                raise CommandError(f"--date {on} is in the future.")
            now = min(
                now,
                day_start(on + datetime.timedelta(days=1))
                - datetime.timedelta(seconds=1),
            )
        result = campaigns_run(now, ids=campaign)
        if result.paused:
            self.stdout.write(
                self.style.WARNING("Sending is paused (campaign settings).")
            )
            return
        for run in result.campaigns:
            self.stdout.write(
                f"{run.campaign}: exited {run.exited}, enrolled {run.enrolled}, "
                f"sent {run.sent}, control {run.ghosts}, no channel {run.no_channel}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(result.campaigns)} campaign(s) as of "
                f"{timezone.localtime(now):%Y-%m-%d %H:%M} in {result.seconds:.1f} s"
            )
        )
