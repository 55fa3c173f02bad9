import time

from django.core.management.base import BaseCommand

from analytics.aggregates import aggregates_rebuild
from analytics.spans import spans_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild every analytics aggregate from scratch, from the first day "
        "with a visit or a points entry to today, a month at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            choices=["windows"],
            help=(
                "Rebuild only the window figures (active, lost, repeat "
                "purchase rate, churn): after changing ANALYTICS_SPAN_DAYS."
            ),
        )

    def handle(self, *args, **options):
        if options["only"] == "windows":
            self.stdout.write("Rebuilding the window figures…")
            started = time.monotonic()
            rows = spans_rebuild(progress=self.stdout.write)
            self.stdout.write(
                self.style.SUCCESS("Done")
                + f" {time.monotonic() - started:8.3f}s  {rows} row(s)"
            )
            return
        self.stdout.write("Rebuilding the analytics aggregates…")
        result = aggregates_rebuild(progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS("Done")
            + f" {result.seconds:8.3f}s  {len(result.days)} day(s), "
            f"{result.rows} row(s), {result.cohort_rows} cohort row(s)"
        )
