from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand

from campaigns.demo import campaigns_demo_ensure


class Command(BaseCommand):
    help = (
        "Demo promotions: happy hours, a themed month, a combo, the WELCOME code, "
        "a birthday week with double points, three services with the cheapest "
        "free. Idempotent; keeps what a manager changed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=None,
            help="language of the promotions' names (default: LANGUAGE_CODE)",
        )
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="the demo's today, YYYY-MM-DD: the themed month is its month "
            "(default: today)",
        )

    def handle(self, *args, **opts):
        language = opts["language"] or settings.LANGUAGE_CODE
        stats = campaigns_demo_ensure(
            russian=language.startswith("ru"), today=opts["today"]
        )
        if stats.skipped:
            self.stdout.write("Demo promotions already there: nothing added.")
        else:
            self.stdout.write(
                f"Demo promotions ready: {len(stats.created)} created "
                f"({', '.join(stats.created)})."
            )
