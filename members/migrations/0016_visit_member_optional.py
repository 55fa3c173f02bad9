"""A visit may have no member: an anonymous sale at the POS.

On PostgreSQL one ``ALTER COLUMN … DROP NOT NULL``: a catalogue change, no
rewrite of the visits table, its foreign key and indexes kept as they are.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0015_visit_paid_cover_idx"),
    ]

    operations = [
        migrations.AlterField(
            model_name="visit",
            name="member",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="visits",
                to="members.member",
                verbose_name="member",
            ),
        ),
    ]
