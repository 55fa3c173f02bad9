from django.db import migrations


class Migration(migrations.Migration):
    # Specialists, services and marketing spend (analytics.models.extra):
    # written by hand, not by makemigrations.
    dependencies = [("analytics", "0002_daily")]

    operations = []
