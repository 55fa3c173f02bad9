"""``manage.py program_export [FILE]``: the program's configuration as JSON
(``rewards.program_io``), to stdout or FILE."""

from pathlib import Path

from django.core.management.base import BaseCommand

from rewards.program_io import document_dumps, program_export


class Command(BaseCommand):
    help = (
        "Write the program's configuration (settings, tiers, rates, rewards, "
        "promotions, code batches' definitions) as one JSON document."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="Where to write (default: stdout).")

    def handle(self, *args, file=None, **options):
        text = document_dumps(program_export()) + "\n"
        if file:
            Path(file).write_text(text, encoding="utf-8")
            self.stdout.write(f"Written to {file}.")
        else:
            self.stdout.write(text, ending="")
