from django.db import migrations, models

from core.migration_ops import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    # Built and dropped CONCURRENTLY: the ledger stays writable meanwhile.
    atomic = False

    dependencies = [
        ("rewards", "0011_campaigns_journeys"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                fields=["kind", "created_at"],
                include=("amount", "debt_change"),
                name="ledger_kind_created_cover_idx",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="ledgerentry",
            name="ledger_kind_created_idx",
        ),
    ]
