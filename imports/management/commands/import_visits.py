"""``manage.py import_visits FILE``: visit history from a CSV or XLSX file."""

import json

from django.utils.translation import gettext as _

from imports import reading, visits
from imports.management.commands._import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import visit history from FILE (.csv or .xlsx): a row per visit line, "
        "rows with one booking id are one visit; unknown phones become members, "
        "unknown services and specialists are created inactive. Importing the "
        "same file again changes nothing. Rejected rows go to FILE.report.csv. "
        "Run points_backfill afterwards."
    )
    mapping_help = (
        'JSON file: {header: field}, or {"columns": {…}, "services": '
        '{name: code}, "specialists": {name: code}}'
    )
    unit = "line"
    desc = "Visits"

    def run(self, opts, *, location, progress):
        mapping, names = None, None
        if opts["mapping"]:
            with open(opts["mapping"], encoding="utf-8") as fh:
                mapping, names = visits.mapping_split(json.load(fh))
        return visits.visits_import(
            opts["file"],
            dry_run=opts["dry_run"],
            location=location,
            mapping=mapping,
            names=names,
            progress=progress,
        )

    def report(self, opts, summary):
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
        self.summary_write(opts, line)
        for section, label in (
            ("services", _("New services (created inactive)")),
            ("specialists", _("New specialists (created inactive)")),
        ):
            found = summary.unknown.get(section) or []
            if found:
                self.stdout.write(f"{label}: " + ", ".join(found[:50]))
                if len(found) > 50:
                    self.stdout.write(_("… and %(n)d more") % {"n": len(found) - 50})

    def epilogue(self, opts, summary):
        if summary.counts[reading.Outcome.CREATED] and not opts["dry_run"]:
            self.stdout.write(
                _(
                    "Next: manage.py points_backfill builds the points history of "
                    "the members who have none yet."
                )
            )
