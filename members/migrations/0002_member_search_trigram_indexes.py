"""Trigram indexes for the member search on PostgreSQL.

The admin searches names and email with ``icontains`` (``UPPER(col) LIKE
UPPER('%term%')``) and phone digits with ``contains``; without these GIN
trigram indexes each search scans every member. pg_trgm is a trusted
extension (PostgreSQL 13+), so the database owner may create it. SQLite, used
for trials, has no such index and needs none at that size.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "member_first_name_trgm": 'UPPER("first_name"::text) gin_trgm_ops',
    "member_last_name_trgm": 'UPPER("last_name"::text) gin_trgm_ops',
    "member_email_trgm": 'UPPER("email"::text) gin_trgm_ops',
    "member_phone_trgm": '("phone"::text) gin_trgm_ops',
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "members_member" '
            f"USING gin ({expression})"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
