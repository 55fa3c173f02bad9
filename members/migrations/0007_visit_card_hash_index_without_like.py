"""The card-hash index without its LIKE-only twin (``varchar_pattern_ops``),
which PostgreSQL got from ``db_index=True``: every visit wrote both, no query
reads the twin. On 5.4M visits: the index is rebuilt in a few seconds."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_stamp_triggers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="visit",
            name="payment_card_hash",
            field=models.CharField(
                blank=True, db_default="", default="", editable=False, max_length=64
            ),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                fields=["payment_card_hash"], name="visit_card_hash_idx"
            ),
        ),
    ]
