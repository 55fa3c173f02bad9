from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from webhooks.delivery import deliveries_deliver_due


class Command(BaseCommand):
    # Help texts in English, as every command of the project (argparse needs str).
    help = (
        "Send due webhook deliveries now (what the every-minute beat task does). "
        "Safe beside running workers: each delivery is claimed first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help=("One batch only (default: until nothing due is left)."),
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=200,
            help=("Deliveries per batch (default 200)."),
        )

    def handle(self, *args, once: bool, limit: int, **options):
        total = 0
        while True:
            attempted = deliveries_deliver_due(limit=limit)
            total += attempted
            if once or attempted < limit:
                break
        self.stdout.write(
            self.style.SUCCESS(_("%(n)s delivery(ies) attempted") % {"n": total})
        )
