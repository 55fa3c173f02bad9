"""The promotions' definitions are cached per process (``campaigns.rules``):
a change to any of their tables bumps the config stamp."""

from django.db import migrations

from core import stamps

TABLES = [
    "campaigns_promotiongroup",
    "campaigns_promotion",
    "campaigns_promotion_services",
    "campaigns_promotion_categories",
    "campaigns_promotion_excluded_services",
    "campaigns_promotion_excluded_categories",
    "campaigns_promotion_locations",
    "campaigns_promotion_tiers",
    "campaigns_promotion_combo_categories",
]

forwards, backwards = stamps.migration_ops(*((table, {}) for table in TABLES))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("campaigns", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
