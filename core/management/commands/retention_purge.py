from datetime import date, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.retention import retention_purge


class Command(BaseCommand):
    help = (
        "Delete what is kept only for a while (sign-in codes, finished "
        "messages, job records, staff sign-ins, erased members' leftovers): "
        "see RETENTION_*_DAYS. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            help="Purge as of the end of this day (YYYY-MM-DD) instead of now.",
        )

    def handle(self, *args, **options):
        now = None
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError(f"Not a date: {options['date']!r}") from exc
            now = timezone.make_aware(datetime.combine(day, time.max))
        self.stdout.write("Purging…")
        counts = retention_purge(now=now, progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS("Done") + f" {sum(counts.values())} row(s)"
        )
