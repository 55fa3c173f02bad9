from django.db import migrations, models


def stamps_create(apps, schema_editor):
    Stamp = apps.get_model("core", "Stamp")
    Stamp.objects.bulk_create([Stamp(id=1, value=1), Stamp(id=2, value=1)])


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Stamp",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(primary_key=True, serialize=False),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "core_stamp"},
        ),
        migrations.RunPython(stamps_create, migrations.RunPython.noop),
    ]
