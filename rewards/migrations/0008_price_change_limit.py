"""The program's limit on prices other than a service's (issue #12)."""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models

from core import stamps


def sqlite_stamp_triggers_again(apps, schema_editor):
    """SQLite adds this field by rebuilding the table, which drops its
    triggers: put back the config stamp's (migration 0004), or an edit of the
    settings would go unseen by the processes' caches."""
    if schema_editor.connection.vendor == "sqlite":
        stamps.triggers_drop(schema_editor, "rewards_programsettings")
        stamps.triggers_install(schema_editor, "rewards_programsettings")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("rewards", "0007_ledger_benefit_indexes_where_set"),
    ]

    operations = [
        migrations.AddField(
            model_name="programsettings",
            name="price_change_limit_pct",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("20"),
                help_text="How far a line's price may differ from the service's price, up or down, when staff allowed to change prices (or a POS system) set it; further needs a manager's approval. Every changed price needs a reason.",
                max_digits=5,
                validators=[
                    django.core.validators.MinValueValidator(0),
                    django.core.validators.MaxValueValidator(100),
                ],
                verbose_name="price change limit, %",
            ),
        ),
        migrations.RunPython(sqlite_stamp_triggers_again, migrations.RunPython.noop),
    ]
