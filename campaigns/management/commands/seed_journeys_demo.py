from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand

from campaigns.demo_journeys import journeys_demo_ensure
from campaigns.services import segments_recount


class Command(BaseCommand):
    help = (
        "Demo campaigns: a two-step win-back, a birthday journey, a spa offer "
        "after a massage, and a finished one-off send (20 days ago, 20 % held "
        "out) with results to look at. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=None,
            help="language of the names (default: LANGUAGE_CODE)",
        )
        parser.add_argument(
            "--today", type=date.fromisoformat, default=None,
            help="the demo's today, YYYY-MM-DD (default: today)",
        )  # fmt: skip

    def handle(self, *args, **opts):
        language = opts["language"] or settings.LANGUAGE_CODE
        self.stdout.write("Demo campaigns: journeys and a finished send…")
        result = journeys_demo_ensure(
            russian=language.startswith("ru"), today=opts["today"]
        )
        counted = segments_recount()
        self.stdout.write(f"Segments counted: {counted}.")
        if not result.created:
            self.stdout.write("Demo campaigns already there: nothing added.")
            return
        self.stdout.write(
            f"Demo campaigns ready: {', '.join(result.created)}; "
            f"{result.visits} visits came back with a campaign code."
        )
