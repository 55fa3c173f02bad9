"""Bump the subscriptions' change stamp when an endpoint is added, deleted, or
its url, events, secret or active flag change (``webhooks.subscriptions``).

``core.stamps.triggers_install`` with ``when_changed`` covers UPDATE and
DELETE; the INSERT trigger is added here. Hot columns (``failing_since``,
``last_success_at``) never touch the stamp row.
"""

from django.db import migrations

from core import stamps

TABLE = "webhooks_endpoint"
STAMP = 3  # webhooks.models.SUBSCRIPTIONS_STAMP, as of this migration
COLUMNS = ("url", "events", "secret", "is_active")
INSERT_TRIGGER = f"{TABLE}_stamp{STAMP}_ins"


def forwards(apps, schema_editor):
    stamps.triggers_install(schema_editor, TABLE, stamp=STAMP, when_changed=COLUMNS)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {INSERT_TRIGGER} AFTER INSERT ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION core_stamp_bump({STAMP})"
        )
    else:
        schema_editor.execute(
            f"CREATE TRIGGER {INSERT_TRIGGER} AFTER INSERT ON {TABLE} FOR EACH ROW "
            f"BEGIN INSERT INTO core_stamp (id, value) VALUES ({STAMP}, random()) "
            "ON CONFLICT (id) DO UPDATE SET value = random(); END"
        )


def backwards(apps, schema_editor):
    stamps.triggers_drop(schema_editor, TABLE, stamp=STAMP)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {INSERT_TRIGGER} ON {TABLE}")
    else:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {INSERT_TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("webhooks", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
