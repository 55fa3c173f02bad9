"""``manage.py export_members FILE``: every member, to CSV or XLSX."""

from django.core.management.base import BaseCommand

from members import exports
from members.management.commands._export_file import export_file, file_kind_check
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
        file_kind_check(path)
        members = Member.objects.all()
        written = export_file(
            self,
            opts,
            headers=exports.MEMBER_HEADERS,
            rows=exports.member_rows(members),
            total=members.count(),
            unit="member",
            desc="Members",
            title="members",
        )
        self.stdout.write(self.style.SUCCESS(f"{written} member(s) written to {path}"))
