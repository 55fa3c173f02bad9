from django.db import migrations, models

from core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # Built CONCURRENTLY: visits and refunds stay writable meanwhile.
    atomic = False

    dependencies = [
        ("members", "0016_visit_member_optional"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("status_changed_at__isnull", False)),
                fields=["status_changed_at"],
                name="visit_status_changed_at_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="visitrefund",
            index=models.Index(fields=["created_at"], name="visit_refund_created_idx"),
        ),
    ]
