"""Bump the change stamps (``core.stamps``) when cached rows change.

Config: services, their categories, locations. Credentials: a token or POS key
revoked (or deleted), a member's status changed — only those columns, so hot
writes (``last_used_at``, visit stats) never touch the stamp row.
"""

from django.db import migrations

from core import stamps

forwards, backwards = stamps.migration_ops(
    ("members_service", {}),
    ("members_servicecategory", {}),
    ("members_location", {}),
    (
        "members_membertoken",
        {"stamp": stamps.CREDENTIALS, "when_changed": ("revoked_at",)},
    ),
    ("members_apikey", {"stamp": stamps.CREDENTIALS, "when_changed": ("revoked_at",)}),
    ("members_member", {"stamp": stamps.CREDENTIALS, "when_changed": ("status",)}),
)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("members", "0005_phone_history_card_hash_device"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
