from django.core.management.base import BaseCommand, CommandError

from rewards.demo import demo_vouchers_ensure


class Command(BaseCommand):
    help = (
        "Demo vouchers: the members with the most points buy a reward or two "
        "with them (active vouchers to use at checkout). Run after "
        "points_backfill. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members", type=int, default=30, help="buyers (default 30)"
        )

    def handle(self, *args, **opts):
        if not 0 <= opts["members"] <= 10_000:
            raise CommandError("--members must be between 0 and 10000")
        stats = demo_vouchers_ensure(members=opts["members"])
        if stats.skipped:
            self.stdout.write("Demo vouchers already there: nothing added.")
        else:
            self.stdout.write(
                f"Demo vouchers ready: {stats.vouchers} voucher(s) for "
                f"{stats.members} member(s)."
            )
