"""``manage.py import_members FILE``: members from a CSV or XLSX file."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from imports import members as imports
from imports import reading
from members.models import Location


class Command(BaseCommand):
    help = (
        "Import members from FILE (.csv or .xlsx): new phones are registered, "
        "known ones get their blanks filled. Rejected rows go to "
        "FILE.report.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path ending in .csv or .xlsx")
        parser.add_argument(
            "--dry-run", action="store_true", help="count and report, write nothing"
        )
        parser.add_argument("--location", help="registration location code")
        parser.add_argument("--mapping", help="JSON file: {header: field}")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        location = None
        if opts["location"]:
            location = Location.objects.filter(code=opts["location"]).first()
            if location is None:
                raise CommandError(
                    _("Unknown location “%(code)s”.") % {"code": opts["location"]}
                )
        try:
            mapping = (
                reading.mapping_load(opts["mapping"], imports.FIELDS)
                if opts["mapping"]
                else None
            )
            with tqdm(
                unit="row",
                desc="Members",
                disable=opts["no_progress"],
                file=self.stderr._out,
                mininterval=0.5,
            ) as bar:
                summary = imports.members_import(
                    opts["file"],
                    dry_run=opts["dry_run"],
                    location=location,
                    mapping=mapping,
                    progress=bar.update,
                )
        except (reading.ImportFileError, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        counts = summary.counts
        line = _(
            "created %(created)d, filled %(filled)d, unchanged %(unchanged)d, "
            "rejected %(rejected)d, skipped %(skipped)d"
        ) % {outcome.value: n for outcome, n in counts.items()}
        if opts["dry_run"]:
            line = _("Dry run, nothing written: %(summary)s") % {"summary": line}
        self.stdout.write(self.style.SUCCESS(line))
        if summary.problems:
            self.stdout.write(
                _("Rejected and skipped rows: %(path)s")
                % {"path": reading.report_path(opts["file"])}
            )
