import datetime
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rewards.jobs import (
    JOBS,
    JobOutcome,
    UnknownJob,
    daily_jobs_run,
    job_names,
    job_run,
)


class Command(BaseCommand):
    help = (
        "Run the rewards app's daily jobs. Without --date: today, after catching "
        "up the dates each job missed (oldest first). With --date: that date only. "
        f"Jobs, in order: {', '.join(JOBS)}."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            metavar="YYYY-MM-DD",
            help="Business date to run (not later than today).",
        )
        parser.add_argument(
            "--only",
            nargs="+",
            action="extend",
            metavar="NAME",
            help="Run only these jobs (in their usual order).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run again a job already done for the date (it changes nothing "
            "that is done).",
        )

    def handle(self, *args, date=None, only=None, force=False, **options):
        today = timezone.localdate()
        try:
            names = job_names(only)
        except UnknownJob as exc:
            raise CommandError(str(exc)) from exc
        if date is None:
            outcomes = daily_jobs_run(today, names, force=force)
        else:
            on = self._date(date, today)
            outcomes = [job_run(name, on, force=force) for name in names]
        for outcome in outcomes:
            self._print(outcome)
        failed = [o for o in outcomes if o.status == JobOutcome.FAILED]
        if failed:
            raise CommandError(f"{len(failed)} job run(s) failed")

    def _date(self, value: str, today: datetime.date) -> datetime.date:
        try:
            on = datetime.date.fromisoformat(value)
        except ValueError as exc:
            raise CommandError(f"Bad --date {value!r}: expected YYYY-MM-DD.") from exc
        if on > today:
            raise CommandError(
                f"--date {on} is in the future (today is {today}): jobs only run "
                "for dates that have begun."
            )
        return on

    def _print(self, o: JobOutcome) -> None:
        style = {
            JobOutcome.DONE: self.style.SUCCESS,
            JobOutcome.SKIPPED: self.style.WARNING,
            JobOutcome.FAILED: self.style.ERROR,
        }[o.status]
        detail = json.dumps(o.result, sort_keys=True) if o.result else o.note
        self.stdout.write(
            f"{o.business_date} {o.job:<22} "
            + style(f"{o.status:<8}")
            + f" {o.seconds:8.3f}s  {detail}"
        )
