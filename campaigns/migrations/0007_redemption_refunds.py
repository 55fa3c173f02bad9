# Partial refunds give back their share of a redemption (campaigns.refunds).

from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_builtin_segments"),
    ]

    operations = [
        migrations.AddField(
            model_name="redemption",
            name="lines",
            field=models.JSONField(
                blank=True,
                db_default={},
                default=dict,
                verbose_name="money off per line",
            ),
        ),
        migrations.AddField(
            model_name="redemption",
            name="money_refunded",
            field=models.DecimalField(
                db_default=Decimal("0"),
                decimal_places=2,
                default=Decimal("0"),
                max_digits=12,
                verbose_name="money off given back",
            ),
        ),
        migrations.AddField(
            model_name="redemption",
            name="points_refunded",
            field=models.BigIntegerField(
                db_default=0, default=0, verbose_name="bonus points taken back"
            ),
        ),
    ]
