from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from referrals.demo import STORY, referrals_demo_ensure


class Command(BaseCommand):
    help = (
        "Demo referrals: the richest demo members invite friends who end up "
        "rewarded, waiting, annulled, held for review or rejected. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--referrers", type=int, default=8)
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=None,
            help="language of the friends' names (default: LANGUAGE_CODE)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        language = opts["language"] or settings.LANGUAGE_CODE
        with tqdm(
            total=opts["referrers"] * len(STORY),
            unit="invite",
            desc="Demo referrals",
            disable=opts["no_progress"],
            file=self.stderr._out,
        ) as bar:
            stats = referrals_demo_ensure(
                referrers=opts["referrers"],
                russian=language.startswith("ru"),
                progress=bar.update,
            )
        if stats.skipped:
            self.stdout.write("Demo referrals already there: nothing added.")
        else:
            self.stdout.write(f"Demo referrals ready: {stats.referrals} invite(s).")
