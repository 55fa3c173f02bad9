from django.db import migrations, models

from core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # Built CONCURRENTLY: the lots stay writable meanwhile.
    atomic = False

    dependencies = [
        ("rewards", "0012_ledger_kind_created_cover_idx"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="pointlot",
            index=models.Index(fields=["created_at"], name="lot_created_idx"),
        ),
    ]
