"""``Member.joined_via``: how the member joined (till, app, referral, import).

The column by hand, with a constant database default: PostgreSQL (11+) adds it
without rewriting the members table, and SQLite's ``ADD COLUMN`` keeps the
table — Django's ``AddField`` would remake it there and lose its change-stamp
triggers (migration 0006). Not atomic: the backfill's UPDATE runs in its own
transaction, after the ``ALTER TABLE``'s lock is released.

The backfill (``members.joined_via.joined_via_backfill``): referral where the
member gave a friend's code at sign-up; everyone else stays at the till
(imported members are not recorded as such anywhere: see that module).
"""

from django.db import migrations, models

from members.joined_via import joined_via_backfill


def column_add(apps, schema_editor):
    schema_editor.execute(
        'ALTER TABLE "members_member" '
        """ADD COLUMN "joined_via" varchar(16) DEFAULT 'till' NOT NULL"""
    )


def column_drop(apps, schema_editor):
    schema_editor.execute('ALTER TABLE "members_member" DROP COLUMN "joined_via"')


def backfill(apps, schema_editor):
    joined_via_backfill(apps)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0013_trim_phone_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(column_add, column_drop, atomic=True)
            ],
            state_operations=[
                migrations.AddField(
                    model_name="member",
                    name="joined_via",
                    field=models.CharField(
                        choices=[
                            ("till", "Till"),
                            ("app", "App"),
                            ("referral", "Referral"),
                            ("import", "Import"),
                        ],
                        db_default="till",
                        default="till",
                        help_text=(
                            "How the member joined: till, app, a friend's "
                            "referral, import."
                        ),
                        max_length=16,
                        verbose_name="joined via",
                    ),
                ),
            ],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, atomic=True),
    ]
