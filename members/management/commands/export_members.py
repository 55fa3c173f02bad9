"""``manage.py export_members FILE``: every member, to CSV or XLSX."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from members import exports
from members.models import Member


class Command(BaseCommand):
    help = (
        "Export all members to FILE: CSV or XLSX by its extension. "
        "Phones, emails and birthdays included: keep the file safe."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path ending in .csv or .xlsx")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        path = opts["file"]
        if not path.lower().endswith((".csv", ".xlsx")):
            raise CommandError("FILE must end in .csv or .xlsx")
        members = Member.objects.all()
        with tqdm(
            total=members.count(),
            unit="member",
            desc="Members",
            disable=opts["no_progress"],
            file=self.stderr._out,
            mininterval=0.5,
        ) as bar:
            exports.file_write(
                path,
                exports.MEMBER_HEADERS,
                exports.member_rows(members),
                title="members",
                progress=bar.update,
            )
        self.stdout.write(self.style.SUCCESS(f"{bar.n} member(s) written to {path}"))
