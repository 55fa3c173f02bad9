"""Bump the config stamp whenever the program's cached tables change."""

from django.db import migrations

from core import stamps

forwards, backwards = stamps.migration_ops(
    ("rewards_programsettings", {}),
    ("rewards_tier", {}),
    ("rewards_categoryearnrate", {}),
)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("rewards", "0003_drop_duplicate_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
