"""The ledger's voucher, reversal and actor columns and the visit benefit's
voucher, empty on nearly every row, are indexed only where set: a posting no
longer writes three indexes of NULLs. The wallet table is filled to 90 % from
now on, so that the update every posting makes finds room on its page and
stays heap-only (see members 0008)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS rewards_ledgerentry_append_only
BEFORE UPDATE ON rewards_ledgerentry
BEGIN
    SELECT RAISE(ABORT, 'rewards_ledgerentry is append-only: UPDATE refused');
END;
"""


def sqlite_trigger_again(apps, schema_editor):
    """SQLite alters a field by rebuilding the table, which drops its triggers:
    put the append-only trigger of migration 0002 back (as 0006 does)."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def fillfactor(value):
    def op(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        setting = f"SET (fillfactor = {value})" if value else "RESET (fillfactor)"
        schema_editor.execute(f"ALTER TABLE rewards_wallet {setting}")

    return op


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_visit_indexes_where_read_member_stats_hot"),
        ("rewards", "0006_ledger_key_unique_without_like"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerentry",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="by",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="reverses",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reversals",
                to="rewards.ledgerentry",
                verbose_name="reverses",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="voucher",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="ledger_entries",
                to="rewards.voucher",
                verbose_name="voucher",
            ),
        ),
        migrations.AlterField(
            model_name="visitbenefit",
            name="voucher",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="rewards.voucher",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("voucher__isnull", False)),
                fields=["voucher"],
                name="ledger_voucher_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("reverses__isnull", False)),
                fields=["reverses"],
                name="ledger_reverses_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="ledger_actor_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="visitbenefit",
            index=models.Index(
                condition=models.Q(("voucher__isnull", False)),
                fields=["voucher"],
                name="visit_benefit_voucher_idx",
            ),
        ),
        migrations.RunPython(sqlite_trigger_again, migrations.RunPython.noop),
        migrations.RunPython(fillfactor(90), fillfactor(None)),
    ]
