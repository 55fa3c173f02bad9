"""Five indexes fewer for every new member, none that a query reads.

``db_index=True`` or ``unique=True`` on a CharField adds a LIKE twin
(``varchar_pattern_ops``) on PostgreSQL; the phone hashes, phones and card
codes are only ever compared for equality (phones are searched by trigrams). And the phone
history's member index is the unique ``(member, phone_hash)`` one's first
column. The remaining indexes are renamed, not rebuilt.

Database side by hand: Django's own operations would, on SQLite, remake the
member table and lose its change-stamp triggers, and on PostgreSQL drop and
re-validate the phone history's foreign key.
"""

import django.db.models.deletion
from django.db import migrations, models

OLD = {
    "erased": "members_member_erased_phone_hash_4cc62b4c",
    "hash": "members_memberphone_phone_hash_c36c2f97",
    "member": "members_memberphone_member_id_4d49d664",
    "phone_like": "members_member_phone_2f3e23db_like",
    "card_like": "members_member_card_code_a63bea80_like",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = [
            f'DROP INDEX IF EXISTS "{OLD["erased"]}_like"',
            f'ALTER INDEX "{OLD["erased"]}" RENAME TO "member_erased_phone_idx"',
            f'DROP INDEX IF EXISTS "{OLD["hash"]}_like"',
            f'ALTER INDEX "{OLD["hash"]}" RENAME TO "member_phone_hash_idx"',
            f'DROP INDEX IF EXISTS "{OLD["member"]}"',
            # The LIKE twins of the unique phone and card code: the app looks
            # both up by equality (the unique index), and searches phones by
            # the trigram index. Django keeps no state of these twins.
            f'DROP INDEX IF EXISTS "{OLD["phone_like"]}"',
            f'DROP INDEX IF EXISTS "{OLD["card_like"]}"',
        ]
    else:
        statements = [
            f'DROP INDEX IF EXISTS "{OLD["erased"]}"',
            'CREATE INDEX "member_erased_phone_idx" '
            'ON "members_member" ("erased_phone_hash")',
            f'DROP INDEX IF EXISTS "{OLD["hash"]}"',
            'CREATE INDEX "member_phone_hash_idx" ON "members_memberphone" ("phone_hash")',
            f'DROP INDEX IF EXISTS "{OLD["member"]}"',
        ]
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    like = schema_editor.connection.vendor == "postgresql"
    statements = [
        'DROP INDEX IF EXISTS "member_erased_phone_idx"',
        f'CREATE INDEX IF NOT EXISTS "{OLD["erased"]}" ON "members_member" ("erased_phone_hash")',
        'DROP INDEX IF EXISTS "member_phone_hash_idx"',
        f'CREATE INDEX IF NOT EXISTS "{OLD["hash"]}" ON "members_memberphone" ("phone_hash")',
        f'CREATE INDEX IF NOT EXISTS "{OLD["member"]}" ON "members_memberphone" ("member_id")',
    ]
    if like:
        statements += [
            f'CREATE INDEX IF NOT EXISTS "{OLD["erased"]}_like" ON "members_member" '
            '("erased_phone_hash" varchar_pattern_ops)',
            f'CREATE INDEX IF NOT EXISTS "{OLD["hash"]}_like" ON "members_memberphone" '
            '("phone_hash" varchar_pattern_ops)',
            f'CREATE INDEX IF NOT EXISTS "{OLD["phone_like"]}" ON "members_member" '
            '("phone" varchar_pattern_ops)',
            f'CREATE INDEX IF NOT EXISTS "{OLD["card_like"]}" ON "members_member" '
            '("card_code" varchar_pattern_ops)',
        ]
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0012_specialists"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="member",
                    name="erased_phone_hash",
                    field=models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        editable=False,
                        max_length=64,
                    ),
                ),
                migrations.AlterField(
                    model_name="memberphone",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phone_history",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="memberphone",
                    name="phone_hash",
                    field=models.CharField(editable=False, max_length=64),
                ),
                migrations.AddIndex(
                    model_name="member",
                    index=models.Index(
                        fields=["erased_phone_hash"], name="member_erased_phone_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="memberphone",
                    index=models.Index(
                        fields=["phone_hash"], name="member_phone_hash_idx"
                    ),
                ),
            ],
        ),
    ]
