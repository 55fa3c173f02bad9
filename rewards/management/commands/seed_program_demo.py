from django.conf import settings
from django.core.management.base import BaseCommand

from rewards.demo import demo_program_ensure


class Command(BaseCommand):
    help = (
        "Create the demo loyalty program: reward catalogue, premium earn rates, "
        "monthly tier perks. Idempotent; keeps what a manager changed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=None,
            help="language of the reward names (default: LANGUAGE_CODE)",
        )

    def handle(self, *args, **opts):
        language = opts["language"] or settings.LANGUAGE_CODE
        stats = demo_program_ensure(russian=language.startswith("ru"))
        self.stdout.write(
            f"Demo program ready: {stats.rewards_created} reward(s), "
            f"{stats.rates_created} category rate(s), {stats.perks_set} tier perk(s) "
            "created."
        )
