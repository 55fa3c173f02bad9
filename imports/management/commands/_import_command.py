"""What ``import_members`` and ``import_visits`` share: arguments, the default
location, the progress bar, and file errors as command errors."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from imports import reading
from members.models import Location


class ImportCommand(BaseCommand):
    location_help = "location code for rows without a location column"
    mapping_help = "JSON file: {header: field}"
    unit = "row"
    desc = ""

    def add_arguments(self, parser):
        parser.add_argument("file", help="path ending in .csv or .xlsx")
        parser.add_argument(
            "--dry-run", action="store_true", help="count and report, write nothing"
        )
        parser.add_argument("--location", help=self.location_help)
        parser.add_argument("--mapping", help=self.mapping_help)
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
            with tqdm(
                unit=self.unit,
                desc=self.desc,
                disable=opts["no_progress"],
                file=self.stderr._out,
                mininterval=0.5,
            ) as bar:
                summary = self.run(opts, location=location, progress=bar.update)
        except (reading.ImportFileError, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.report(opts, summary)
        if summary.problems:
            self.stdout.write(
                _("Rejected and skipped rows: %(path)s")
                % {"path": reading.report_path(opts["file"])}
            )
        self.epilogue(opts, summary)

    def run(
        self, opts, *, location: Location | None, progress: Callable[[int], None]
    ) -> reading.ImportSummary:
        raise NotImplementedError

    def report(self, opts, summary: reading.ImportSummary) -> None:
        raise NotImplementedError

    def epilogue(self, opts, summary: reading.ImportSummary) -> None:
        """What to do next, after the report."""

    def summary_write(self, opts, line: str) -> None:
        if opts["dry_run"]:
            line = _("Dry run, nothing written: %(summary)s") % {"summary": line}
        self.stdout.write(self.style.SUCCESS(line))
