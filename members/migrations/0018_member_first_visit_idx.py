from django.db import migrations, models

from core.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY: the members stay writable while it builds.
    atomic = False

    dependencies = [
        ("members", "0017_analytics_refresh_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="member",
            index=models.Index(
                fields=["first_visit_at"], name="member_first_visit_idx"
            ),
        ),
    ]
