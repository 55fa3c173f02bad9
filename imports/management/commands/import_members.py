"""``manage.py import_members FILE``: members from a CSV or XLSX file."""

from django.utils.translation import gettext as _

from imports import members, reading
from imports.management.commands._import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import members from FILE (.csv or .xlsx): new phones are registered, "
        "known ones get their blanks filled. Rejected rows go to "
        "FILE.report.csv."
    )
    location_help = "registration location code"
    desc = "Members"

    def run(self, opts, *, location, progress):
        mapping = (
            reading.mapping_load(opts["mapping"], members.FIELDS)
            if opts["mapping"]
            else None
        )
        return members.members_import(
            opts["file"],
            dry_run=opts["dry_run"],
            location=location,
            mapping=mapping,
            progress=progress,
        )

    def report(self, opts, summary):
        line = _(
            "created %(created)d, filled %(filled)d, unchanged %(unchanged)d, "
            "rejected %(rejected)d, skipped %(skipped)d"
        ) % {outcome.value: n for outcome, n in summary.counts.items()}
        self.summary_write(opts, line)
