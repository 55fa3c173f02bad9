"""Django's command line: ``manage.py`` in a checkout, ``regulars`` once installed.

The installed command needs no repository: ``regulars migrate``,
``regulars runserver``, ``regulars shell`` work from any folder (set
``REGULARS_VAR_DIR`` for the trial's SQLite database and broker folder).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
