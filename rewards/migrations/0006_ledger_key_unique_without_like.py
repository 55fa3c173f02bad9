"""The ledger's idempotency key unique through a constraint, without the
LIKE-only twin index PostgreSQL got from ``unique=True`` (400 MB at 6M
entries, written by every posting, read by nothing). On a large ledger the
new unique index takes ~10 s to build, with writes to the ledger waiting."""

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
    put the append-only trigger of migration 0002 back (as 0003 does)."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_visit_card_hash_index_without_like"),
        ("rewards", "0005_visit_receipt_open_benefit_kinds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerentry",
            name="idempotency_key",
            field=models.CharField(max_length=160),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                fields=("idempotency_key",), name="ledger_entry_unique_key"
            ),
        ),
        migrations.RunPython(sqlite_trigger_again, migrations.RunPython.noop),
    ]
