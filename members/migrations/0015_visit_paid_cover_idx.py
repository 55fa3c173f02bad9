from django.db import migrations, models

from core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: the visits stay writable while it builds.
    atomic = False

    dependencies = [
        ("members", "0014_member_joined_via"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("member__isnull", False), ("status", "paid")),
                fields=["paid_at"],
                include=("member", "location", "amount_paid", "amount_refunded"),
                name="visit_paid_cover_idx",
            ),
        ),
    ]
