from django.core.management.base import BaseCommand, CommandError

from rewards.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the points ledger: recompute every member's hash chain and check "
        "that wallets, lots and allocations agree. Exits non-zero on any problem."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--member", type=int, metavar="ID", help="Check one member only."
        )

    def handle(self, *args, member=None, verbosity=1, **options):
        def progress(message: str) -> None:
            if verbosity >= 1:
                self.stderr.write(message)

        report = ledger_verify(member_id=member, progress=progress)
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(str(problem)))
        if report.problems_total > len(report.problems):
            more = report.problems_total - len(report.problems)
            self.stdout.write(self.style.ERROR(f"… and {more} more problem(s)"))
        summary = (
            f"{report.entries} entries of {report.members} member(s) checked, "
            f"{report.problems_total} problem(s)"
        )
        if not report.ok:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
