from django.core.management.base import BaseCommand

from analytics.aggregates import aggregates_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild every analytics aggregate from scratch, from the first day "
        "with a visit or a points entry to today, a month at a time."
    )

    def handle(self, *args, **options):
        self.stdout.write("Rebuilding the analytics aggregates…")
        result = aggregates_rebuild(progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS("Done")
            + f" {result.seconds:8.3f}s  {len(result.days)} day(s), "
            f"{result.rows} row(s), {result.cohort_rows} cohort row(s)"
        )
