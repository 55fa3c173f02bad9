"""``manage.py import_visits FILE``: visit history from a CSV or XLSX file."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from imports import reading, visits
from members.models import Location


class Command(BaseCommand):
    help = (
        "Import visit history from FILE (.csv or .xlsx): a row per visit line, "
        "rows with one booking id are one visit; unknown phones become members, "
        "unknown services and specialists are created inactive. Importing the "
        "same file again changes nothing. Rejected rows go to FILE.report.csv. "
        "Run points_backfill afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path ending in .csv or .xlsx")
        parser.add_argument(
            "--dry-run", action="store_true", help="count and report, write nothing"
        )
        parser.add_argument(
            "--location", help="location code for rows without a location column"
        )
        parser.add_argument(
            "--mapping",
            help='JSON file: {header: field}, or {"columns": {…}, "services": '
            '{name: code}, "specialists": {name: code}}',
        )
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
            mapping, names = None, None
            if opts["mapping"]:
                with open(opts["mapping"], encoding="utf-8") as fh:
                    mapping, names = visits.mapping_split(json.load(fh))
            with tqdm(
                unit="line",
                desc="Visits",
                disable=opts["no_progress"],
                file=self.stderr._out,
                mininterval=0.5,
            ) as bar:
                summary = visits.visits_import(
                    opts["file"],
                    dry_run=opts["dry_run"],
                    location=location,
                    mapping=mapping,
                    names=names,
                    progress=bar.update,
                )
        except (reading.ImportFileError, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        counts = {outcome.value: n for outcome, n in summary.counts.items()}
        line = (
            _(
                "lines: imported %(created)d, already there %(unchanged)d, "
                "rejected %(rejected)d, skipped %(skipped)d"
            )
            % counts
            + "; "
            + _(
                "created: %(visits)d visits, %(members)d members, %(services)d "
                "services, %(specialists)d specialists"
            )
            % summary.created
        )
        if opts["dry_run"]:
            line = _("Dry run, nothing written: %(summary)s") % {"summary": line}
        self.stdout.write(self.style.SUCCESS(line))
        for section, label in (
            ("services", _("New services (created inactive)")),
            ("specialists", _("New specialists (created inactive)")),
        ):
            found = summary.unknown.get(section) or []
            if found:
                self.stdout.write(f"{label}: " + ", ".join(found[:50]))
                if len(found) > 50:
                    self.stdout.write(_("… and %(n)d more") % {"n": len(found) - 50})
        if summary.problems:
            self.stdout.write(
                _("Rejected and skipped rows: %(path)s")
                % {"path": reading.report_path(opts["file"])}
            )
        if summary.counts[reading.Outcome.CREATED] and not opts["dry_run"]:
            self.stdout.write(
                _(
                    "Next: manage.py points_backfill builds the points history of "
                    "the members who have none yet."
                )
            )
