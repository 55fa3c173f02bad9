"""``manage.py program_import FILE [--dry-run]``: apply a program document
(``rewards.program_io``) — all of it or nothing; the dry run lists what would
change and changes nothing."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rewards.program_io import program_import


class Command(BaseCommand):
    help = "Apply a program configuration document written by program_export."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--dry-run", action="store_true", help="List the changes, change nothing."
        )

    def handle(self, *args, file, dry_run=False, **options):
        try:
            with open(file, encoding="utf-8") as fh:
                document = json.load(fh)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        try:
            changes = program_import(document, dry_run=dry_run)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        for change in changes:
            self.stdout.write(f"  {change.section}: {change.text}")
        if not changes:
            self.stdout.write("Nothing to change: the program is already like this.")
        elif dry_run:
            self.stdout.write(f"Dry run: {len(changes)} change(s) not applied.")
        else:
            self.stdout.write(f"Applied {len(changes)} change(s).")
