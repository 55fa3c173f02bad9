from django.db import migrations


class Migration(migrations.Migration):
    # The daily aggregates (analytics.models.daily): written by hand, not by
    # makemigrations, while two people add models to this app at once.
    dependencies = [("analytics", "0001_initial")]

    operations = []
